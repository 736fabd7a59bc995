"""The summary places a file in its study: Study/Series/SOP Instance UIDs and the Series and
Instance Numbers, each equal to the file's or left out (with a finding) when it breaks its VR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.uid import SecondaryCaptureImageStorage

from corpus.generate import attach_grey, new_dataset, to_bytes
from dicomlens.domain.results import VALUE_INVALID_FOR_VR
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.metadata import check_summary


def _file(tmp_path: Path, **attributes: object) -> Path:
    ds = new_dataset(SecondaryCaptureImageStorage, 7, "OT")
    attach_grey(ds, np.arange(64, dtype=np.uint16).reshape(8, 8), bits_stored=12)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    path = tmp_path / "placed.dcm"
    path.write_bytes(to_bytes(ds))
    return path


def test_the_summary_carries_the_files_study_series_and_instance(tmp_path: Path) -> None:
    # Given a file with its UIDs, a Series Number and an Instance Number
    path = _file(
        tmp_path,
        StudyInstanceUID="2.25.1001",
        SeriesInstanceUID="2.25.1001.2",
        SOPInstanceUID="2.25.1001.2.3",
        SeriesNumber=3,
        InstanceNumber=12,
    )
    # When it is summarized
    checked = check_summary(read_image(path, limits=ImagingLimits()))
    # Then the values are the file's, and shown under their camelCase names
    summary = checked.summary.to_json_dict()
    assert summary["studyInstanceUid"] == "2.25.1001"
    assert summary["seriesInstanceUid"] == "2.25.1001.2"
    assert summary["sopInstanceUid"] == "2.25.1001.2.3"
    assert (summary["seriesNumber"], summary["instanceNumber"]) == (3, 12)
    assert not checked.findings


def test_a_negative_number_is_kept_and_a_broken_uid_is_left_out(tmp_path: Path) -> None:
    # Given a Series Number below zero (IS is signed) and a Study UID with letters in it
    path = _file(tmp_path, SeriesNumber=-2, StudyInstanceUID="1.2.abc")
    # When it is summarized
    checked = check_summary(read_image(path, limits=ImagingLimits()))
    # Then the number is the file's and the UID is left out with a finding naming its tag
    assert checked.summary.series_number == -2
    assert checked.summary.study_instance_uid is None
    (finding,) = checked.findings
    assert finding.kind == VALUE_INVALID_FOR_VR
    assert finding.message.startswith("(0020,000D) StudyInstanceUID")


def test_without_a_sop_instance_uid_in_the_dataset_the_file_meta_one_is_used(
    tmp_path: Path,
) -> None:
    # Given a file whose dataset lacks its SOP Instance UID (the file meta has it)
    ds = new_dataset(SecondaryCaptureImageStorage, 7, "OT")
    attach_grey(ds, np.zeros((8, 8), dtype=np.uint16), bits_stored=12)
    ds.file_meta.MediaStorageSOPInstanceUID = "2.25.77"
    del ds.SOPInstanceUID
    path = tmp_path / "meta-only.dcm"
    path.write_bytes(to_bytes(ds))
    # When it is summarized
    summary = check_summary(read_image(path, limits=ImagingLimits())).summary
    # Then the file meta's Media Storage SOP Instance UID stands in
    assert summary.sop_instance_uid == "2.25.77"
