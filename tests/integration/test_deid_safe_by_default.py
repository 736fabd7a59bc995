"""Attributes safe by default, one pseudonym per patient, Clean Descriptors and corrupted
files: de-identification of generated files with identifiers planted where tables miss them.

Every test ends with the two scans a privacy auditor runs on an output: a recursive
element scan (:func:`~dicomlens.deid.verify.find_values`) and a scan of the file's raw bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomlens.config import Settings
from dicomlens.deid import ProfileOptions, deidentify_file
from dicomlens.deid.verify import find_values
from dicomlens.domain.errors import DicomlensError

SECRET = b"safe-by-default"
NAME = "QUILLFEATHER^OSWIN"
PATIENT_ID = "ZQ0055321"
BIRTH = "19610302"
STUDY_DATE = "20230915"
UNKNOWN_PUBLIC = 0x0018FFF0  # an even-group tag the data dictionary does not know
PLANTED = [
    "QUILLFEATHER",
    "OSWIN",
    PATIENT_ID,
    "55321",
    BIRTH,
    STUDY_DATE,
    "20240611",
    "KESTREL GENERAL",
    "DRWOLFE",
    "HIDDEN-UNKNOWN",
    "HIDDEN-PRIVATE",
    "HIDDEN-LABEL",
    "HIDDEN-TITLE",
    "HIDDEN-COMPLETION",
    "HIDDEN-CALENDAR",
    "HIDDEN-SPS-COMMENT",
]


def _options(**changes: object) -> ProfileOptions:
    return ProfileOptions(secret=SECRET, pixel_text="off", **changes)  # type: ignore[arg-type]


def _base(*, sop: str = "1", issuer: str | None = None) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.10.4242.1.{sop}"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.4242"
    ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.10.4242.{sop}"
    ds.Modality = "CT"
    ds.PatientName = NAME
    ds.PatientID = PATIENT_ID
    if issuer is not None:
        ds.IssuerOfPatientID = issuer
    ds.PatientBirthDate = BIRTH
    ds.StudyDate = ds.SeriesDate = STUDY_DATE
    ds.StudyTime = "101500"
    ds.InstitutionName = "KESTREL GENERAL"
    ds.ReferringPhysicianName = "DRWOLFE^A"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = np.full((8, 8), 60, np.uint8).tobytes()
    return ds


def _planted() -> Dataset:
    ds = _base()
    ds.add_new(UNKNOWN_PUBLIC, "LO", "HIDDEN-UNKNOWN QUILLFEATHER")
    block = ds.private_block(0x0029, "ACME", create=True)
    block.add_new(0x01, "LO", "HIDDEN-PRIVATE")
    ds.ContentLabel = "HIDDEN_LABEL"
    ds.ContentDescription = "HIDDEN-LABEL for OSWIN"
    ds.DocumentTitle = "HIDDEN-TITLE"
    ds.CompletionFlagDescription = "HIDDEN-COMPLETION"
    ds.add_new(0x00100033, "LO", "HIDDEN-CALENDAR")  # Table E.1-1 rows the vendored table lacks
    ds.add_new(0x00100034, "LO", "HIDDEN-CALENDAR")
    step = Dataset()
    step.CommentsOnTheScheduledProcedureStep = "HIDDEN-SPS-COMMENT"
    step.ScheduledProcedureStepDescription = "CT"
    ds.ScheduledProcedureStepSequence = Sequence([step])
    # Dates outside the table, nested two sequences deep and at the top level.
    inner = Dataset()
    inner.ExpiryDate = "20240611"
    inner.CodeValue = "T-D3000"
    inner.CodingSchemeDesignator = "SRT"
    inner.CodeMeaning = "Chest"
    region = Dataset()
    region.CodeValue = "T-D3000"
    region.CodingSchemeDesignator = "SRT"
    region.CodeMeaning = "Chest"
    region.AnatomicRegionModifierSequence = Sequence([inner])
    ds.AnatomicRegionSequence = Sequence([region])
    ds.ExpiryDate = "20240611"
    # Identifiers inside attributes that are safe to keep: only the identifier goes.
    ds.Manufacturer = "QUILLFEATHER Imaging"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OSWIN"]
    ds.AcquisitionNumber = "55321"
    return ds


def _deidentify(ds: Dataset, tmp_path: Path, options: ProfileOptions, name: str = "in") -> Path:
    source = tmp_path / f"{name}.dcm"
    ds.save_as(source, enforce_file_format=True)
    report = deidentify_file(
        source, tmp_path / f"{name}-out.dcm", options, limits=Settings().imaging_limits()
    )
    return report.output


def _raw_hits(path: Path, needles: list[str]) -> list[str]:
    data = path.read_bytes().lower()
    return [n for n in needles if n.lower().encode() in data]


@pytest.mark.parametrize("longitudinal", ["off", "shifted"])
def test_only_safe_attributes_survive_and_every_date_follows_the_option(
    tmp_path: Path, longitudinal: str
) -> None:
    # Given a file with identifiers in an unknown public tag, a private tag, free text
    # outside the table, the table's newest rows, and dates nested in sequences
    out_path = _deidentify(_planted(), tmp_path, _options(longitudinal=longitudinal))
    out = dcmread(out_path)
    # Then none of them is left, in the elements or anywhere in the file's bytes
    assert find_values(out, PLANTED) == []
    assert _raw_hits(out_path, PLANTED) == []
    assert UNKNOWN_PUBLIC not in out
    assert not [e for e in out.iterall() if e.tag.is_private]
    assert "CompletionFlagDescription" not in out
    assert out.ContentLabel == "DEIDENTIFIED"  # Type 1: a dummy, so the file stays valid
    assert out.DocumentTitle == ""
    assert 0x00100033 not in out and 0x00100034 not in out
    # And what is safe stays: pixels, geometry, codes
    assert out.Rows == 8 and out.Modality == "CT"
    assert out.Manufacturer == "Imaging"
    assert list(out.ImageType) == ["ORIGINAL", "PRIMARY", "DEIDENTIFIED"]
    assert out.AcquisitionNumber == 0
    region = out.AnatomicRegionSequence[0]
    assert region.CodeMeaning == "Chest"
    inner = region.AnatomicRegionModifierSequence[0]
    if longitudinal == "off":
        assert "ExpiryDate" not in out and "ExpiryDate" not in inner
        assert not out.StudyDate
    else:
        # Every date moves by the patient's one offset, the table's and the others alike
        shift = _days(STUDY_DATE) - _days(out.StudyDate)
        assert shift > 0
        assert _days("20240611") - _days(out.ExpiryDate) == shift
        assert _days("20240611") - _days(inner.ExpiryDate) == shift


def _days(da: str) -> int:
    import datetime as dt

    return (dt.datetime.strptime(da, "%Y%m%d").date() - dt.date(1900, 1, 1)).days


def test_full_dates_option_keeps_dates_but_not_the_birth_date(tmp_path: Path) -> None:
    out = dcmread(_deidentify(_planted(), tmp_path, _options(longitudinal="full")))
    assert out.StudyDate == STUDY_DATE
    assert out.AnatomicRegionSequence[0].AnatomicRegionModifierSequence[0].ExpiryDate == (
        "20240611"
    )
    assert not out.get("PatientBirthDate")


def test_an_unknown_tag_read_as_un_from_implicit_vr_is_removed(tmp_path: Path) -> None:
    ds = _base()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.add_new(UNKNOWN_PUBLIC, "LO", "HIDDEN-UNKNOWN")
    source = tmp_path / "implicit.dcm"
    ds.save_as(source, enforce_file_format=True)
    assert dcmread(source)[UNKNOWN_PUBLIC].VR == "UN"  # as a reader sees it
    report = deidentify_file(
        source, tmp_path / "out.dcm", _options(), limits=Settings().imaging_limits()
    )
    assert UNKNOWN_PUBLIC not in dcmread(report.output)
    assert _raw_hits(report.output, ["HIDDEN-UNKNOWN"]) == []


def test_safe_private_tags_are_the_only_private_tags_kept(tmp_path: Path) -> None:
    ds = _planted()
    block = ds.private_block(0x0019, "SAFE_VENDOR", create=True)
    block.add_new(0x0B, "DS", "1.5")
    out = dcmread(
        _deidentify(ds, tmp_path, _options(safe_private_tags=frozenset({"0019,SAFE_VENDOR,0B"})))
    )
    private = [e for e in out.iterall() if e.tag.is_private]
    assert [str(e.value) for e in private] == ["SAFE_VENDOR", "1.5"]


def test_one_patient_gets_one_pseudonym_and_offset_with_or_without_issuer(
    tmp_path: Path,
) -> None:
    # Given two series of one study, one with Issuer of Patient ID and one without, and a
    # third file whose Patient ID differs only in case and padding
    with_issuer = _base(sop="1", issuer="KESTREL")
    without = _base(sop="2")
    padded = _base(sop="3")
    padded.PatientID = f" {PATIENT_ID.lower()} "
    options = _options(longitudinal="shifted")
    outs = [
        dcmread(_deidentify(ds, tmp_path, options, name=str(i)))
        for i, ds in enumerate((with_issuer, without, padded))
    ]
    # Then all three carry the same pseudonym and the same shifted dates
    assert len({o.PatientID for o in outs}) == 1
    assert len({o.StudyDate for o in outs}) == 1
    assert outs[0].StudyDate != STUDY_DATE
    # While another patient gets another pseudonym
    other = _base(sop="4")
    other.PatientID = "ZQ0055322"
    assert dcmread(_deidentify(other, tmp_path, options, name="o")).PatientID != outs[0].PatientID


def test_clean_descriptors_removes_every_identifier_form_and_only_those(tmp_path: Path) -> None:
    ds = _base()
    ds.PatientName = "AN^LI"
    ds.OperatorsName = "PEREGRINE^TOBIAS"
    ds.ImageComments = (
        "CT SCAN chest, ankle: li an TOBIAS 03/02/1961 2 Mar 1961 March 2, 1961 "
        "1961-03-02 MRN ZQ 0055-321 and 55321 follow-up 15.09.2023"
    )
    ds.SeriesDescription = "Peregrine Thorax with contrast"
    ds.StudyDescription = "Scanned at KESTREL GENERAL on 2023-09-15"
    out = dcmread(_deidentify(ds, tmp_path, _options(clean_descriptors=True)))
    description = out.ImageComments
    for gone in ("li", "an", "TOBIAS", "1961", "03/02", "Mar", "0055", "55321", "15.09"):
        assert gone not in description.split(), (gone, description)
    for kept in ("CT", "SCAN", "chest,", "ankle:", "MRN", "and", "follow-up"):
        assert kept in description.split(), (kept, description)
    assert out.SeriesDescription == "Thorax with contrast"
    assert out.StudyDescription == "Scanned at on"


def _explicit_element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH", group, element) + vr + struct.pack("<H", len(value)) + value


def test_an_element_whose_length_runs_past_the_end_is_refused(tmp_path: Path) -> None:
    # Given a file whose Modality claims more bytes than follow, so that a reader that
    # trusts it reads the patient's name into Modality
    ds = _base()
    ds.save_as(tmp_path / "whole.dcm", enforce_file_format=True)
    data = (tmp_path / "whole.dcm").read_bytes()
    at = data.index(b"\x08\x00\x60\x00CS")
    broken = data[:at] + b"\x08\x00\x60\x00CS" + struct.pack("<H", 0xFFF0) + data[at + 8 :]
    source = tmp_path / "broken.dcm"
    source.write_bytes(broken)
    # When it is de-identified, then it is refused without a value in the message
    with pytest.raises(DicomlensError) as caught:
        deidentify_file(
            source, tmp_path / "out.dcm", _options(), limits=Settings().imaging_limits()
        )
    assert caught.value.code == "INVALID_DICOM"
    assert "(0008,0060)" in caught.value.message
    assert not [n for n in PLANTED if n.lower() in caught.value.message.lower()]
    assert not (tmp_path / "out.dcm").exists()


def test_a_value_that_breaks_its_vr_is_refused(tmp_path: Path) -> None:
    # Given an implicit VR file with a 150 KB Modality holding the patient's name
    ds = _base()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.Modality = ("CT " + NAME + " ") * 7500
    source = tmp_path / "long.dcm"
    ds.save_as(source, enforce_file_format=True)
    with pytest.raises(DicomlensError) as caught:
        deidentify_file(
            source, tmp_path / "out.dcm", _options(), limits=Settings().imaging_limits()
        )
    assert caught.value.code == "INVALID_DICOM"
    assert "QUILLFEATHER" not in caught.value.message
    # And a code with a control character in it is refused the same way
    ds = _base()
    ds.Modality = "CT\x01"
    ds.save_as(source, enforce_file_format=True)
    with pytest.raises(DicomlensError) as caught:
        deidentify_file(
            source, tmp_path / "out.dcm", _options(), limits=Settings().imaging_limits()
        )
    assert caught.value.code == "INVALID_DICOM"
