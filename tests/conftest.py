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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "dicomweb_server_ready",
        "run the tests marked dicomweb_server (our DICOMweb service exists)",
        type="bool",
        default=False,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(TESTS).parts
        if parts and parts[0] in _TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))
    # Tests of our DICOMweb service are deselected (not skipped) until the service lands;
    # switch on with `dicomweb_server_ready = true` in pyproject (or -o on the command line).
    if not config.getini("dicomweb_server_ready"):
        waiting = [item for item in items if item.get_closest_marker("dicomweb_server")]
        if waiting:
            config.hook.pytest_deselected(items=waiting)
            items[:] = [item for item in items if item not in waiting]


def missing_tool(reason: str) -> None:
    """Skip locally, but fail in CI: a check that cannot run is not a passing check."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def unavailable() -> Callable[[str], None]:
    """``unavailable("why")``: skip locally, fail under CI=true (see ``missing_tool``)."""
    return missing_tool


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
