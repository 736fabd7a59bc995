"""A killed worker's job names what overran: decoding, or the analyzers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from dicomlens.analysis import phase
from dicomlens.analysis.pipeline import AnalysisOptions, analyze_file
from dicomlens.domain.errors import ErrorCode
from dicomlens.ports import AnalyzerInput, AnalyzerOutput

CT = Path(str(get_testdata_file("CT_small.dcm")))


class _Quiet:
    name = "quiet"

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        del frame
        return AnalyzerOutput()


@pytest.fixture
def announced() -> Iterator[list[phase.Phase]]:
    seen: list[phase.Phase] = []
    phase.listen(seen.append)
    yield seen
    phase.listen(None)


def test_the_pipeline_announces_decoding_then_the_analyzers(announced: list[phase.Phase]) -> None:
    analyze_file(CT, AnalysisOptions(analyzers=(_Quiet(),)))
    assert announced == [phase.Phase.DECODING, phase.Phase.ANALYZING]


def test_without_analyzers_only_decoding_is_announced(announced: list[phase.Phase]) -> None:
    analyze_file(CT, AnalysisOptions())
    assert announced == [phase.Phase.DECODING]


def test_a_kill_in_the_analyzers_is_not_a_decode_timeout() -> None:
    code, message = phase.timeout_error(float(phase.Phase.ANALYZING), 65.0)
    assert code is ErrorCode.PROCESSING_TIMEOUT
    assert "over 65 s" in message
    code, message = phase.timeout_error(float(phase.Phase.DECODING), 65.0)
    assert code is ErrorCode.DECODE_TIMEOUT
    assert message == "processing took over 65 s and was stopped"
