"""Unit fixtures: the handlers' process wired with in-memory fakes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dicomlens import bootstrap
from fake_world import FakeWorld, local_settings


@pytest.fixture
def world_settings() -> dict[str, Any]:
    """Overrides of ``local_settings()`` for ``world``; a test module redefines this fixture."""
    return {}


@pytest.fixture
def world(world_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWorld]:
    """A ``FakeWorld`` installed as the handlers' services for one test."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    yield FakeWorld(local_settings(**world_settings)).install()
    bootstrap.use_services(None)
