"""The whole data set from the analysis's parse equals a full parse, for what the index
keeps of it (DICOMweb metadata and index record), on every DICOM file pydicom ships."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataset import Dataset

from dicomlens.dicomweb.attributes import index_record, metadata_json
from dicomlens.domain.errors import DicomlensError
from dicomlens.imaging.decode import locate_file
from dicomlens.imaging.dicom_reader import LocatedDicom, locate_pixel_data
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.sniff import FileKind
from dicomlens.imaging.whole_dataset import whole_dataset
from dicomlens.services.dicomweb_store import read_instance

LIMITS = ImagingLimits()
NOW = datetime(2026, 12, 7, tzinfo=UTC)
# Files the index is fed every day: these must be completed from the analysis's parse.
# (CT_small, MR_small and MR_small_RLE end with elements after their pixel data, and
# SC_rgb_jpeg writes its pixel data element in implicit VR in an explicit VR data set: those
# are parsed whole.)
COMMON = (
    "MR_small_implicit.dcm",
    "JPEG2000.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "rtdose.dcm",
    "693_UNCI.dcm",
    "693_J2KR.dcm",
    "MR2_UNCI.dcm",
    "SC_rgb_small_odd.dcm",
)


def _located(path: Path) -> LocatedDicom | None:
    try:
        source = locate_file(path, limits=LIMITS)
        if source.kind not in (FileKind.DICOM, FileKind.DICOM_NO_PREAMBLE):
            return None
        return locate_pixel_data(path, source.kind, path.stat().st_size)
    except DicomlensError:
        return None


def _kept(ds: Dataset, size: int) -> tuple[object, ...]:
    """What the index keeps of a data set: its record and its metadata document."""
    record = index_record(
        ds,
        blob_key="k",
        blob_version=None,
        metadata_key="m",
        job_id="j",
        size=size,
        stored_at=NOW,
    )
    return record, metadata_json(ds)


def _dicom_files() -> list[Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sorted(Path(str(p)) for p in get_testdata_files("*.dcm"))


def test_the_completed_parse_is_what_a_full_parse_gives_on_every_shipped_file() -> None:
    completed = 0
    for path in _dicom_files():
        located = _located(path)
        if located is None:
            continue
        try:
            whole = whole_dataset(located, path)
        except DicomlensError:
            # a value that does not convert: the full parse refuses the file too
            with pytest.raises(DicomlensError):
                read_instance(path, LIMITS)
            continue
        if whole is None:
            continue
        completed += 1
        size = path.stat().st_size
        try:
            expected = _kept(read_instance(path, LIMITS), size)
        except DicomlensError:
            with pytest.raises(DicomlensError):
                _kept(whole, size)
            continue
        assert _kept(whole, size) == expected, path.name
    assert completed >= 60, completed


@pytest.mark.parametrize("name", COMMON)
def test_common_files_are_completed_and_the_analysis_s_data_set_is_left_as_it_was(
    name: str,
) -> None:
    path = Path(str(get_testdata_file(name)))
    located = _located(path)
    assert located is not None
    before = set(located.dataset.keys())
    whole = whole_dataset(located, path)
    assert whole is not None
    assert "PixelData" in whole
    assert set(located.dataset.keys()) == before  # a copy gained the pixel data element


def test_anything_after_the_pixel_data_takes_a_full_parse(tmp_path: Path) -> None:
    # Given a CT with a Data Set Trailing Padding element after its pixel data
    ds = pydicom.dcmread(get_testdata_file("693_UNCI.dcm"))
    ds.DataSetTrailingPadding = b"\x00" * 16
    path = tmp_path / "padded.dcm"
    ds.save_as(path)
    located = _located(path)
    assert located is not None
    # Then the analysis's parse does not stand for the file
    assert whole_dataset(located, path) is None


def test_bytes_after_an_encapsulated_value_take_a_full_parse(tmp_path: Path) -> None:
    source = Path(str(get_testdata_file("JPEG2000.dcm")))
    path = tmp_path / "trailing.dcm"
    path.write_bytes(source.read_bytes() + b"\xfc\xff\xfc\xff" + b"OB\x00\x00" + bytes(4))
    located = _located(path)
    assert located is not None
    assert whole_dataset(located, path) is None


def test_another_version_of_the_file_takes_a_full_parse(tmp_path: Path) -> None:
    path = tmp_path / "ct.dcm"
    path.write_bytes(Path(str(get_testdata_file("693_UNCI.dcm"))).read_bytes())
    located = _located(path)
    assert located is not None
    path.write_bytes(path.read_bytes() + bytes(2))
    assert whole_dataset(located, path) is None
