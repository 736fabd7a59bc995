"""The DICOMweb conformance suite (dicomweb-client) against our local server.

Marked ``dicomweb_server``: deselected until our DICOMweb service lands (switch on with
``dicomweb_server_ready = true`` in pyproject). Once on, a ``/dicomweb/studies`` that
answers 404 fails the whole module: nothing here is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import local_server
import pytest
from dicomweb_conformance import Finding, Target, answers, check_store, checks, guarded
from dicomweb_peer import OUR_ROOT
from dicomweb_queries import queries

from corpus.dicomweb import DicomwebCorpus, generated_datasets, write_dicomweb_corpus

pytestmark = [pytest.mark.dicomweb_server, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> DicomwebCorpus:
    return write_dicomweb_corpus(tmp_path_factory.mktemp("dicomweb-corpus"))


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory, corpus: DicomwebCorpus) -> Iterator[Target]:
    """Our server with the corpus stored through STOW (the store must succeed)."""
    with local_server.running(tmp_path_factory.mktemp("dicomweb-data")) as server:
        root = f"{server.url.rstrip('/')}{OUR_ROOT}"
        assert answers(root), f"{root}/studies answers 404: the DICOMweb service is not served"
        target = Target.at(root)
        assert check_store(target, corpus) == []
        yield target


def test_every_query_has_a_discriminating_answer(corpus: DicomwebCorpus) -> None:
    # A query whose expected answer is empty could pass on a server that finds nothing.
    empty = [q.name for q in queries(corpus) if not q.expected(corpus)]
    assert empty == []


def _check_names() -> list[str]:
    """The suite's check names (UIDs are fixed, so an in-memory corpus names them)."""
    in_memory = DicomwebCorpus(paths=(), datasets=tuple(generated_datasets()))
    return [name for name, _ in checks(in_memory)]


@pytest.mark.parametrize("name", _check_names())
def test_conformance(name: str, stored: Target, corpus: DicomwebCorpus) -> None:
    # Given the corpus stored through STOW; When the named check runs with dicomweb-client
    check = dict(checks(corpus))[name]
    findings: list[Finding] = guarded(name, check)(stored, corpus)
    # Then the server answered as PS3.18 and the files say
    assert findings == [], [f"{f.check}: {f.detail}" for f in findings]
