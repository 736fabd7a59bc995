"""The analysis report (Comprehensive 3D SR, TID 1500) of one instance: regions on the
source's pixel grid, labels as coded evaluations, the patient and study copied, no OCR text,
deterministic UIDs; valid for dciodvfy and read back by highdicom."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.tag import Tag

from corpus.burned_in import BURNED_TEXT, burned_in_dataset
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.results import (
    AnalysisResult,
    Box,
    Finding,
    ImageSummary,
    Label,
    PhiFields,
    TextLine,
)
from dicomlens.reports.builder import SERIES_NUMBER, build_report, report_uids

WHEN = datetime(2025, 3, 4, 5, 6, 7)
TEXT_BOX = Box(left=0.25, top=0.5, width=0.5, height=0.125)
PHI_MESSAGE = "burned-in text shows the patient's name"
OCR_TEXT = f"{BURNED_TEXT} QZX-ONLY-READ"  # what OCR read: a token nothing else holds


def _result(*, frame: int | None = 0) -> AnalysisResult:
    """What the pipeline says of a US image with text burned in (and a tag or two)."""
    return AnalysisResult(
        kind="dicom",
        has_image=True,
        summary=ImageSummary(modality="US", body_part="ABDOMEN"),
        phi=PhiFields(
            patient_name="HOLLOWAY^PRUDENCE",
            burned_in_text=(TextLine(text=OCR_TEXT, confidence=0.9, box=TEXT_BOX),),
        ),
        labels=(
            Label(name="Ultrasound", confidence=1.0, source="dicom-tags", category="modality"),
            Label(name="Abdomen", confidence=1.0, source="dicom-tags", category="body-part"),
            Label(name="sonar display, very long class", confidence=0.12, source="classifier"),
        ),
        findings=(
            Finding(
                kind="burned-in text",
                message="1 line of text burned into the image",
                confidence=0.9,
                boxes=(TEXT_BOX,),
                source="ocr",
            ),
            Finding(
                kind="burned-in PHI suspected",
                message=PHI_MESSAGE,
                confidence=0.8,
                boxes=(TEXT_BOX,),
                source="ocr",
            ),
            Finding(kind="multi-frame", message="3 frames; frame 1 shown"),
        ),
        representative_frame=frame,
    )


def _write(sr: Dataset, folder: Path) -> Path:
    path = folder / "report.dcm"
    sr.save_as(path, enforce_file_format=True)
    return path


def _regions(sr: Dataset) -> list[Dataset]:
    found, stack = [], list(sr.ContentSequence)
    while stack:
        item = stack.pop(0)
        if item.ValueType == "SCOORD":
            found.append(item)
        stack.extend(item.get("ContentSequence", []))
    return found


def test_each_finding_box_is_a_closed_region_on_the_source_pixels() -> None:
    # Given a 384 x 512 instance and a finding box in relative coordinates
    source = burned_in_dataset()
    # When its report is built
    sr = build_report(source, _result(), uids=report_uids("job-a"), content_time=WHEN)
    # Then the box (shared by two finding kinds) is one POLYLINE around the source pixels:
    # a viewer draws one outline, not one per kind
    regions = _regions(sr)
    assert len(regions) == 1
    expected = [128, 192, 384, 192, 384, 240, 128, 240, 128, 192]  # x = column, y = row
    for region in regions:
        assert region.GraphicType == "POLYLINE"
        np.testing.assert_allclose(region.GraphicData, expected)
        (reference,) = region.ContentSequence
        (sop,) = reference.ReferencedSOPSequence
        assert sop.ReferencedSOPInstanceUID == source.SOPInstanceUID
        assert sop.ReferencedSOPClassUID == source.SOPClassUID
        assert "ReferencedFrameNumber" not in sop  # a single-frame instance


def test_a_multi_frame_region_references_the_analysed_frame() -> None:
    source = burned_in_dataset(frames=3)
    sr = build_report(source, _result(frame=1), uids=report_uids("job-m"), content_time=WHEN)
    (sop,) = _regions(sr)[0].ContentSequence[0].ReferencedSOPSequence
    assert sop.ReferencedFrameNumber == 2  # frame index 1 is the second frame


def test_labels_are_coded_qualitative_evaluations() -> None:
    sr = build_report(burned_in_dataset(), _result(), uids=report_uids("j"), content_time=WHEN)
    (container,) = [
        item
        for item in sr.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == "C0034375"
    ]
    pairs = {
        (
            item.ConceptNameCodeSequence[0].CodingSchemeDesignator,
            item.ConceptNameCodeSequence[0].CodeValue,
            item.ConceptCodeSequence[0].CodingSchemeDesignator,
            item.ConceptCodeSequence[0].CodeValue,
        )
        for item in container.ContentSequence
    }
    assert ("DCM", "121139", "DCM", "US") in pairs  # Modality: Ultrasound
    assert ("SCT", "363698007", "SCT", "113345001") in pairs  # Finding Site: Abdomen
    private = [p for p in pairs if p[2] == "99DCMLENS"]
    assert len(private) == 1
    assert len(private[0][3]) <= 16  # SH
    schemes = {item.CodingSchemeDesignator for item in sr.CodingSchemeIdentificationSequence}
    assert "99DCMLENS" in schemes


def test_patient_and_study_are_copied_exactly_and_the_report_is_a_new_sr_series() -> None:
    source = burned_in_dataset()
    sr = build_report(source, _result(), uids=report_uids("j"), content_time=WHEN)
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
        "ReferringPhysicianName",
        "StudyDescription",
    ):
        assert sr[keyword].value == source[keyword].value, keyword
    assert sr.Modality == "SR"
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert sr.SeriesInstanceUID != source.SeriesInstanceUID
    assert sr.SeriesNumber == SERIES_NUMBER
    assert sr.ContentDate == "20250304"


def test_no_text_read_from_the_pixels_nor_any_message_reaches_the_report(tmp_path: Path) -> None:
    sr = build_report(burned_in_dataset(), _result(), uids=report_uids("j"), content_time=WHEN)
    data = _write(sr, tmp_path).read_bytes()
    for secret in (OCR_TEXT, BURNED_TEXT, "QZX", PHI_MESSAGE, "1 line of text"):
        assert secret.encode() not in data, secret
    # (the patient's name is there: it is copied from the source's Patient module)
    assert b"HOLLOWAY^PRUDENCE" in data


def test_uids_depend_on_the_seed_only() -> None:
    source = burned_in_dataset()
    first = build_report(source, _result(), uids=report_uids("job-a"), content_time=WHEN)
    again = build_report(
        source, _result(), uids=report_uids("job-a"), content_time=datetime(2030, 1, 1)
    )
    other = build_report(source, _result(), uids=report_uids("job-b"), content_time=WHEN)
    assert first.SOPInstanceUID == again.SOPInstanceUID
    assert first.SeriesInstanceUID == again.SeriesInstanceUID
    assert other.SOPInstanceUID != first.SOPInstanceUID
    assert str(first.SOPInstanceUID).startswith("2.25.")


def test_an_instance_without_pixels_has_no_report() -> None:
    source = burned_in_dataset()
    del source.PixelData
    with pytest.raises(DicomlensError) as caught:
        build_report(source, _result(), uids=report_uids("j"), content_time=WHEN)
    assert caught.value.code is ErrorCode.NOT_AN_IMAGE


def test_dciodvfy_finds_no_error(tmp_path: Path) -> None:
    dciodvfy = shutil.which("dciodvfy")
    assert dciodvfy, "dciodvfy (Debian dicom3tools) is required"
    for frames in (1, 3):
        source = burned_in_dataset(frames=frames)
        sr = build_report(source, _result(), uids=report_uids(f"j{frames}"), content_time=WHEN)
        path = _write(sr, tmp_path)
        run = subprocess.run(
            [dciodvfy, str(path)], capture_output=True, text=True, timeout=60, check=False
        )
        out = run.stdout + run.stderr
        errors = [line for line in out.splitlines() if line.startswith("Error")]
        assert errors == [], out
        assert "Comprehensive3DSR" in out or "Comprehensive 3D SR" in out, out


def test_highdicom_reads_the_measurement_report_back(tmp_path: Path) -> None:
    source = burned_in_dataset(frames=3)
    sr = build_report(source, _result(frame=2), uids=report_uids("j"), content_time=WHEN)
    path = _write(sr, tmp_path)
    read = hd.sr.srread(path)
    assert isinstance(read, hd.sr.Comprehensive3DSR)
    again = hd.sr.Comprehensive3DSR.from_dataset(dcmread(path))
    report = again.content
    assert isinstance(report, hd.sr.MeasurementReport)
    groups = report.get_planar_roi_measurement_groups()
    # One region for the box both kinds share: the first kind is its finding type, the
    # other an associated finding of it
    assert [group.finding_type.value for group in groups] == ["burned-in-text"]
    (evaluation,) = groups[0].get_qualitative_evaluations()
    assert evaluation.name.value == "246090004"  # SCT Associated finding
    assert evaluation.value.value == "burned-in-phi"
    for group in groups:
        assert group.reference_type == codes.DCM.ImageRegion
        np.testing.assert_allclose(group.roi.value[0], [128, 192])
        (image,) = group.roi.ContentSequence
        assert image.referenced_sop_instance_uid == source.SOPInstanceUID
        assert image.referenced_frame_numbers == [3]
        assert group.tracking_identifier is not None
    assert read.SOPInstanceUID == sr.SOPInstanceUID


def test_a_result_without_boxes_reports_the_whole_image_and_its_labels() -> None:
    result = _result().model_copy(update={"findings": ()})
    sr = build_report(burned_in_dataset(), result, uids=report_uids("j"), content_time=WHEN)
    (region,) = _regions(sr)
    np.testing.assert_allclose(region.GraphicData, [0, 0, 512, 0, 512, 384, 0, 384, 0, 0])
    assert any(
        item.ConceptNameCodeSequence[0].CodeValue == "C0034375" for item in sr.ContentSequence
    )


@pytest.mark.parametrize(
    "damage",
    ["omitted-type-2", "refused-values"],
)
def test_a_file_from_the_wild_gets_its_report_with_its_own_patient_values(damage: str) -> None:
    # Given an instance that omits Type 2 patient/study attributes (as many files do), or
    # holds values highdicom's constructor refuses (a Patient's Sex of X, a Study Time with
    # a colon)
    source = burned_in_dataset()
    if damage == "omitted-type-2":
        for keyword in ("PatientBirthDate", "PatientSex", "StudyID", "AccessionNumber"):
            if keyword in source:
                del source[keyword]
        del source.ReferringPhysicianName
    else:
        source.PatientSex = "X"
        source.StudyTime = "10:20:30"
    before = source.to_json_dict()
    # When its report is built
    sr = build_report(source, _result(), uids=report_uids("wild"), content_time=WHEN)
    # Then the report is built, its patient and study values are the source's exactly
    # (Type 2 ones the source lacks present and empty), and the source is unchanged
    for keyword in ("PatientName", "PatientID", "PatientSex", "StudyTime", "StudyID"):
        expected = source.get(keyword, "")
        assert str(sr.get(keyword, "missing")) == str(expected), keyword
    assert source.to_json_dict() == before
    assert "PixelData" not in sr


def test_a_value_a_report_cannot_reference_is_invalid_dicom_not_a_crash() -> None:
    source = burned_in_dataset()
    # a Number of Frames that is no number, as read from a file
    source[0x00280008] = RawDataElement(Tag(0x00280008), "IS", 4, b"many", 0, True, True)
    with pytest.raises(DicomlensError) as caught:
        build_report(source, _result(), uids=report_uids("bad"), content_time=WHEN)
    assert caught.value.code is ErrorCode.INVALID_DICOM
