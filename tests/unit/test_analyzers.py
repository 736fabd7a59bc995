"""Analyzers without models: PHI matching of burned-in text, the registry chosen by
configuration, and a failing analyzer that never fails the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom.data
import pytest
from pydantic import ValidationError

from dicomlens import bootstrap
from dicomlens.analysis.analyzers import (
    AnalyzerSelection,
    BurnedInTextReader,
    HaarFaceDetector,
    OnnxClassifier,
    OnnxModelSpec,
    build_analyzers,
    run_analyzers,
)
from dicomlens.analysis.analyzers.phi_text import match_phi, normalise
from dicomlens.analysis.pipeline import AnalysisOptions, analyze_file
from dicomlens.config import Settings
from dicomlens.domain.results import Box, Finding, ImageSummary, Label, PhiFields, TextLine
from dicomlens.ports import AnalyzerInput, AnalyzerOutput

PHI = PhiFields(
    patient_name="DOE^JOHN^Q",
    patient_id="PID0042",
    patient_birth_date="19700315",
    accession_number="ACC77123",
)


def _reasons(lines: list[str], phi: PhiFields = PHI) -> set[str]:
    return {match.reason for match in match_phi(lines, phi)}


# --- PHI matching -------------------------------------------------------------------------


def test_normalise_folds_case_lookalikes_separators_and_spaces() -> None:
    assert normalise("Doe^John") == normalise("D0E ~ john") == normalise("doe,  JOHN")
    assert normalise("PID0042") == normalise("pid OO42")


@pytest.mark.parametrize(
    "shown",
    ["DOE^JOHN", "DOE~JOHN", "D0E^J0HN", "Doe, John", "John Doe", "JOHN  DOE", "Name: DOE^JOHN"],
)
def test_the_patients_name_is_recognised_as_ocr_reads_it(shown: str) -> None:
    assert "the patient's name" in _reasons([shown, "W 400 L 40"])


def test_a_name_split_over_two_lines_is_recognised() -> None:
    assert "the patient's name" in _reasons(["DOE", "JOHN", "kVp 120"])


def test_one_misread_letter_still_matches_a_long_name() -> None:
    phi = PhiFields(patient_name="KOWALSKI^PIOTR")
    assert "the patient's name" in _reasons(["KOWALSKl PlOTR"], phi)
    assert "the patient's name" in _reasons(["KOWAISKI PIOTR"], phi)


@pytest.mark.parametrize(
    "shown", ["15/03/1970", "03/15/1970", "1970-03-15", "15 MAR 1970", "15.03.70"]
)
def test_the_birth_date_is_recognised_in_common_formats(shown: str) -> None:
    assert "the patient's birth date" in _reasons([shown])


def test_patient_id_and_accession_number_are_recognised() -> None:
    assert {"the patient ID", "the accession number"} <= _reasons(["PID OO42", "Acc: ACC77123"])


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("SMITH^ANNA", "text that looks like a person's name"),
        ("Smith, Anna", "text that looks like a person's name"),
        ("Patient: X", "text that looks like a person's name"),
        ("01/02/2003", "text that looks like a date"),
        ("24-MAY-02", "text that looks like a date"),
        ("MRN: 55", "text that looks like a record number"),
        ("12345678", "text that looks like a record number"),
    ],
)
def test_text_that_looks_like_phi_is_suspected_without_known_values(line: str, reason: str) -> None:
    assert reason in _reasons([line], PhiFields())


@pytest.mark.parametrize(
    "line", ["W 400 L 40", "kVp 120 mAs 250", "SE 3 IM 42", "R", "5.0 mm", "HFS"]
)
def test_scanner_annotations_are_not_phi(line: str) -> None:
    assert match_phi([line], PHI) == []


def test_a_different_patients_name_is_not_matched_as_this_patients() -> None:
    assert "the patient's name" not in _reasons(["SMITHSON ANNABEL"])


# --- registry and configuration -----------------------------------------------------------


def test_the_registry_builds_the_configured_analyzers_in_order() -> None:
    analyzers = build_analyzers(AnalyzerSelection(names=("ocr", "faces", "classifier")))
    assert [analyzer.name for analyzer in analyzers] == ["ocr", "faces", "classifier"]
    assert isinstance(analyzers[0], BurnedInTextReader)
    assert isinstance(analyzers[1], HaarFaceDetector)
    assert isinstance(analyzers[2], OnnxClassifier)


def test_an_unknown_analyzer_name_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="unknown analyzer 'colour'"):
        build_analyzers(AnalyzerSelection(names=("colour",)))


def test_a_byo_model_runs_under_its_own_name(tmp_path: Path) -> None:
    spec = OnnxModelSpec(
        name="devices", path=tmp_path / "m.onnx", labels=tmp_path / "l.txt", input_size=(320, 256)
    )
    (analyzer,) = build_analyzers(AnalyzerSelection(names=("devices",), models=(spec,)))
    assert isinstance(analyzer, OnnxClassifier)
    assert analyzer.name == "devices"
    assert analyzer.config.input_size == (320, 256)
    assert analyzer.config.source == "devices"


def test_a_byo_model_may_not_shadow_a_builtin(tmp_path: Path) -> None:
    spec = OnnxModelSpec(name="ocr", path=tmp_path / "m.onnx", labels=tmp_path / "l.txt")
    with pytest.raises(ValueError, match="clash"):
        build_analyzers(AnalyzerSelection(names=("ocr",), models=(spec,)))


def test_settings_choose_analyzers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMLENS_ANALYZERS", "ocr, faces")
    monkeypatch.setenv("DICOMLENS_OCR_MIN_CONFIDENCE", "0.8")
    analyzers = bootstrap.analysis_options(Settings()).analyzers
    assert [analyzer.name for analyzer in analyzers] == ["ocr", "faces"]
    assert isinstance(analyzers[0], BurnedInTextReader)
    assert analyzers[0].config.min_confidence == 0.8


def test_settings_defaults_run_every_offline_analyzer_locally_and_none_in_aws(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DICOMLENS_ANALYZERS", raising=False)
    local = bootstrap.analysis_options(Settings(mode="local")).analyzers
    assert [analyzer.name for analyzer in local] == ["classifier", "faces", "ocr"]
    assert bootstrap.analysis_options(Settings(mode="aws")).analyzers == ()


def test_settings_read_byo_models_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMLENS_ANALYZERS", "devices")
    monkeypatch.setenv(
        "DICOMLENS_BYO_MODELS",
        '[{"name": "devices", "path": "/models/d.onnx", "labels": "/models/d.txt",'
        ' "input_size": 256, "mean": [0.5], "std": [0.25], "channels": "gray",'
        ' "crop": [0.1, 0.0, 0.8, 1.0], "output": "sigmoid"}]',
    )
    (analyzer,) = bootstrap.analysis_options(Settings()).analyzers
    assert isinstance(analyzer, OnnxClassifier)
    assert analyzer.config.crop == (0.1, 0.0, 0.8, 1.0)
    assert analyzer.config.channels == "gray"
    assert analyzer.config.output == "sigmoid"


def test_a_malformed_byo_model_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError):
        OnnxModelSpec.model_validate({"name": "Bad Name!", "path": "/m", "labels": "/l"})


# --- running analyzers --------------------------------------------------------------------


@dataclass(frozen=True)
class _Broken:
    name: str = "broken"

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        raise RuntimeError("model file is corrupt")


@dataclass(frozen=True)
class _Reader:
    name: str = "reader"

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        box = Box(left=0.0, top=0.0, width=0.5, height=0.1)
        return AnalyzerOutput(
            labels=(Label(name="Text", confidence=0.9, source="reader"),),
            findings=(Finding(kind="burned-in text", message="1 line", boxes=(box,)),),
            burned_in_text=(TextLine(text="DOE^JOHN", confidence=0.9, box=box),),
        )


def _frame() -> AnalyzerInput:
    return AnalyzerInput(
        pixels=np.zeros((8, 8), np.uint8), kind="dicom", summary=ImageSummary(), phi=PHI
    )


def test_a_failing_analyzer_becomes_a_finding_naming_it_and_the_others_still_run() -> None:
    results = run_analyzers([_Broken(), _Reader()], _frame())
    failed = [finding for finding in results.findings if finding.kind == "analyzer-failed"]
    assert len(failed) == 1
    assert "broken" in failed[0].message
    assert "model file is corrupt" in failed[0].message
    assert [label.name for label in results.labels] == ["Text"]
    assert [line.text for line in results.burned_in_text] == ["DOE^JOHN"]


CT_SMALL = Path(pydicom.data.get_testdata_file("CT_small.dcm"))


def test_the_pipeline_runs_no_analyzer_by_default() -> None:
    result = analyze_file(CT_SMALL).result
    assert {label.source for label in result.labels} == {"dicom-tags"}
    assert result.phi.burned_in_text == ()


def test_the_job_completes_when_an_analyzer_fails_and_text_goes_under_phi() -> None:
    options = AnalysisOptions(analyzers=(_Broken(), _Reader()))
    result = analyze_file(CT_SMALL, options).result
    kinds = [finding.kind for finding in result.findings]
    assert "analyzer-failed" in kinds
    assert "burned-in text" in kinds
    assert [line.text for line in result.phi.burned_in_text] == ["DOE^JOHN"]
    assert "CT Scan" in [label.name for label in result.labels]
    assert "DOE^JOHN" not in str([finding.message for finding in result.findings])
    assert result.to_json_dict()["phi"]["burnedInText"][0]["text"] == "DOE^JOHN"


def test_analyzers_cross_process_boundaries() -> None:
    """Worker pools pickle the options: analyzers are plain values, models load lazily."""
    import pickle

    analyzers = build_analyzers(AnalyzerSelection(names=("classifier", "faces", "ocr")))
    assert pickle.loads(pickle.dumps(analyzers)) == analyzers  # noqa: S301 - our own bytes
