"""Integration fixtures: every corpus file by name, real and generated."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus import real_files


@pytest.fixture(scope="session")
def corpus_paths(generated_corpus: dict[str, Path]) -> dict[str, Path]:
    """File name -> path of every real corpus file and every generated edge case."""
    paths = {path.name: path for path in real_files()}
    paths.update(generated_corpus)
    return paths
