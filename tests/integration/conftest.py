"""Integration fixtures: the generated corpus, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus import generate


@pytest.fixture(scope="session")
def generated_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Name -> path of every generated edge case (see tests/corpus/generate.py)."""
    return generate(tmp_path_factory.mktemp("generated-corpus"))
