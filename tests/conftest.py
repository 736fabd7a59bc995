"""Shared fixtures. Tiers are markers applied from the folder a test lives in."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from corpus import generate

TESTS = Path(__file__).parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_TIERS = ("unit", "integration", "contract", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(TESTS).parts
        if parts and parts[0] in _TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


def missing_tool(reason: str) -> None:
    """Skip locally, but fail in CI: a check that cannot run is not a passing check."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def require_tool() -> Callable[[str], str]:
    """``require_tool("dcmj2pnm")`` -> the tool's path, or skip (fail under CI=true)."""

    def _require(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            missing_tool(f"{name} is not installed")
            raise AssertionError("unreachable")
        return path

    return _require


@pytest.fixture(scope="session")
def generated_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Name -> path of every generated edge case (see tests/corpus/generate.py)."""
    return generate(tmp_path_factory.mktemp("generated-corpus"))
