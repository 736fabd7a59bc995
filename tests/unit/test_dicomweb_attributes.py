"""The index's attributes and the /metadata DICOM JSON of an instance (dicomweb.attributes)."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, generate_uid

from dicomlens.dicomweb.attributes import index_record, metadata_json, with_absolute_bulk_uris
from dicomlens.domain.errors import DicomlensError, ErrorCode

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _record(ds: Dataset) -> Any:
    return index_record(
        ds, blob_key="b", blob_version=None, metadata_key="m", job_id=None, size=1, stored_at=NOW
    )


def _testfile(name: str) -> Dataset:
    path = get_testdata_file(name)
    assert path is not None
    return pydicom.dcmread(path)


def _charset_file(name: str) -> Dataset:
    return pydicom.dcmread(get_charset_files(name)[0])


def _values(ds: Dataset) -> dict[str, Any]:
    """Every non-binary top-level value (numbers as numbers), for comparing data sets."""
    out: dict[str, Any] = {}
    for e in ds:
        if e.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ"):
            continue
        values = e.value if isinstance(e.value, list | pydicom.multival.MultiValue) else [e.value]
        if e.VR in ("DS", "IS", "FL", "FD"):
            out[f"{e.tag:08X}"] = [None if v in (None, "") else float(v) for v in values]
        else:
            out[f"{e.tag:08X}"] = [str(v) for v in values]
    return out


def _bulk(_tag: str, _vr: str, _uri: str) -> bytes:
    return b""


def test_ct_record_has_uids_syntax_and_each_levels_attributes() -> None:
    # Given pydicom's CT example, When it is indexed
    ds = _testfile("CT_small.dcm")
    record = _record(ds)
    # Then the record carries its identity and the QIDO attributes of each level
    assert record.study_uid == ds.StudyInstanceUID
    assert record.series_uid == ds.SeriesInstanceUID
    assert record.sop_uid == ds.SOPInstanceUID
    assert record.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID
    assert record.instance_number == 1
    assert record.frame_count == 1
    assert record.study["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": str(ds.PatientName)}]}
    assert record.study["00080020"]["Value"] == [ds.StudyDate]
    assert record.series["00080060"]["Value"] == ["CT"]
    assert record.instance["00280010"]["Value"] == [ds.Rows]
    # an attribute is kept at its own level only, and absent ones are absent (not empty)
    assert "00080060" not in record.study
    assert "00100010" not in record.instance
    assert "00400275" not in record.series
    assert list(record.study) == sorted(record.study)


def test_multiframe_and_non_image_frame_counts() -> None:
    assert _record(_testfile("rtdose.dcm")).frame_count == 15
    assert _record(_testfile("rtplan.dcm")).frame_count == 0


def test_request_attributes_sequence_is_returned_as_the_file_has_it() -> None:
    ds = _testfile("CT_small.dcm")
    item = Dataset()
    item.ScheduledProcedureStepID = "SPS1"
    item.RequestedProcedureID = "RP1"
    item.RequestedProcedureDescription = "not a key"
    ds.RequestAttributesSequence = Sequence([item])
    sequence = _record(ds).series["00400275"]
    assert sequence["vr"] == "SQ"
    assert sequence["Value"] == [
        {
            "00400009": {"vr": "SH", "Value": ["SPS1"]},
            "00401001": {"vr": "SH", "Value": ["RP1"]},
            "00321060": {"vr": "LO", "Value": ["not a key"]},
        }
    ]


@pytest.mark.parametrize("keyword", ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"])
def test_missing_or_invalid_uid_is_invalid_dicom_without_patient_data(keyword: str) -> None:
    ds = _testfile("CT_small.dcm")
    delattr(ds, keyword)
    with pytest.raises(DicomlensError) as missing:
        _record(ds)
    assert missing.value.code == ErrorCode.INVALID_DICOM
    setattr(ds, keyword, "1.2.abc")
    with pytest.raises(DicomlensError) as invalid:
        _record(ds)
    assert invalid.value.code == ErrorCode.INVALID_DICOM
    for error in (missing.value, invalid.value):
        assert "CompressedSamples" not in error.message
        assert "abc" not in error.message


def test_transfer_syntax_without_file_meta_is_the_encoding_read() -> None:
    path = get_testdata_file("ExplVR_BigEndNoMeta.dcm")
    assert path is not None
    ds = pydicom.dcmread(path, force=True)
    if "StudyInstanceUID" not in ds:
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.get("SOPInstanceUID") or generate_uid()
    ds.SOPClassUID = ds.get("SOPClassUID") or "1.2.840.10008.5.1.4.1.1.7"
    assert _record(ds).transfer_syntax_uid == ExplicitVRBigEndian


@pytest.mark.parametrize(
    ("name", "alphabetic", "ideographic", "phonetic"),
    [
        ("chrH31.dcm", "Yamada^Tarou", "山田^太郎", "やまだ^たろう"),
        ("chrX1.dcm", "Wang^XiaoDong", "王^小東", None),
        ("chrFrenMulti.dcm", "Buc^Jérôme", None, None),
    ],
)
def test_non_ascii_names_are_decoded_into_their_groups(
    name: str, alphabetic: str, ideographic: str | None, phonetic: str | None
) -> None:
    ds = _charset_file(name)
    expected = {"Alphabetic": alphabetic}
    if ideographic:
        expected["Ideographic"] = ideographic
    if phonetic:
        expected["Phonetic"] = phonetic
    assert metadata_json(ds)["00100010"]["Value"] == [expected]
    assert _record_study(ds)["00100010"]["Value"] == [expected]


def _record_study(ds: Dataset) -> dict[str, Any]:
    ds.StudyInstanceUID = ds.get("StudyInstanceUID") or generate_uid()
    ds.SeriesInstanceUID = ds.get("SeriesInstanceUID") or generate_uid()
    ds.SOPInstanceUID = ds.get("SOPInstanceUID") or generate_uid()
    ds.SOPClassUID = ds.get("SOPClassUID") or "1.2.840.10008.5.1.4.1.1.7"
    return dict(_record(ds).study)


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",  # explicit VR little endian, private tags, large private OB
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "JPEG2000.dcm",  # encapsulated pixel data
        "nested_priv_SQ.dcm",  # private sequences within private sequences
        "rtplan.dcm",  # nested sequences, no pixel data
    ],
)
def test_metadata_round_trips_through_pydicom(name: str) -> None:
    # Given an example file, When its metadata is made and read back with pydicom
    ds = _testfile(name)
    meta = metadata_json(ds)
    back = Dataset.from_json(copy.deepcopy(meta), bulk_data_uri_handler=_bulk)
    # Then every value reads back the same, file meta left out
    assert _values(back) == _values(ds)
    assert not any(tag.startswith("0002") for tag in meta)
    assert list(meta) == sorted(meta)
    for tag in ("7FE00010",):
        if tag in meta:
            assert meta[tag] == {"vr": meta[tag]["vr"], "BulkDataURI": "bulk/7FE00010"}


def test_private_creator_is_kept_with_its_elements() -> None:
    meta = metadata_json(_testfile("CT_small.dcm"))
    assert meta["00430010"]["Value"] == ["GEMS_PARM_01"]
    assert "00431028" in meta


def test_large_binary_values_are_bulk_small_ones_inline() -> None:
    ds = _testfile("CT_small.dcm")
    meta = metadata_json(ds, bulk_threshold=1024)
    assert meta["00431029"]["BulkDataURI"] == "bulk/00431029"  # 2 KiB private OB
    small = meta["00431028"]
    assert base64.b64decode(small["InlineBinary"]) == ds[0x00431028].value
    everything_inline = metadata_json(ds, bulk_threshold=10**9)
    assert "InlineBinary" in everything_inline["00431029"]
    # pixel data is bulk data however high the threshold
    assert everything_inline["7FE00010"]["BulkDataURI"] == "bulk/7FE00010"


def test_bulk_data_in_sequences_gets_a_tag_path() -> None:
    ds = Dataset()
    inner = Dataset()
    inner.add_new(0x00181072, "OB", b"")  # placeholder, replaced below
    inner.add_new(0x00660023, "OW", bytes(4000))  # TrianglePointIndexList-like
    outer = Dataset()
    outer.add_new(0x00660023, "OW", b"\x01\x00")
    ds.add_new(0x00540016, "SQ", Sequence([outer, inner]))
    meta = metadata_json(ds)
    items = meta["00540016"]["Value"]
    assert items[1]["00660023"]["BulkDataURI"] == "bulk/00540016/1/00660023"
    assert items[0]["00660023"]["InlineBinary"] == base64.b64encode(b"\x01\x00").decode()


def test_big_endian_inline_binary_is_little_endian() -> None:
    # Given a big endian file whose OW value is written byte-swapped
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    ds.add_new(0x00660023, "OW", b"\x01\x02\x03\x04")
    raw = pydicom.dcmread(_written(ds), force=True)
    # When its metadata is made, Then the inline value is the little endian words
    inline = metadata_json(raw)["00660023"]["InlineBinary"]
    assert base64.b64decode(inline) == b"\x02\x01\x04\x03"


def _written(ds: Dataset) -> Any:
    import io

    buffer = io.BytesIO()
    little = ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    ds.save_as(buffer, implicit_vr=False, little_endian=little, enforce_file_format=False)
    buffer.seek(0)
    return buffer


def test_absolute_bulk_uris_walk_sequences_and_leave_the_original() -> None:
    meta = {
        "7FE00010": {"vr": "OW", "BulkDataURI": "bulk/7FE00010"},
        "00540016": {
            "vr": "SQ",
            "Value": [{"00660023": {"vr": "OW", "BulkDataURI": "bulk/00540016/0/00660023"}}],
        },
        "00431029": {"vr": "OB", "BulkDataURI": "https://elsewhere/x"},
    }
    url = "http://h/dicomweb/studies/1/series/2/instances/3/"
    out = with_absolute_bulk_uris(meta, url)
    assert out["7FE00010"]["BulkDataURI"] == f"{url}bulk/7FE00010"
    nested = out["00540016"]["Value"][0]["00660023"]["BulkDataURI"]
    assert nested == f"{url}bulk/00540016/0/00660023"
    assert out["00431029"]["BulkDataURI"] == "https://elsewhere/x"
    assert meta["7FE00010"]["BulkDataURI"] == "bulk/7FE00010"
