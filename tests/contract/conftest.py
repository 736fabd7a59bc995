"""Fixtures that run each port's contract suite once per adapter (see contract_harness)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from contract_harness import BLOB_STORES, JOB_STORES, BlobHarness

from dicomlens.ports import JobStore
from fakes import FakeClock


def _build(factory: Callable[..., Any], *args: Any) -> Iterator[Any]:
    made = factory(*args)
    if isinstance(made, Iterator):
        yield from made
    else:
        yield made


@pytest.fixture(params=sorted(BLOB_STORES))
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobHarness]:
    yield from _build(BLOB_STORES[request.param], tmp_path, FakeClock())


@pytest.fixture(params=sorted(JOB_STORES))
def job_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    yield from _build(JOB_STORES[request.param], tmp_path)
