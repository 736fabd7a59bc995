"""The raw element-stream walk and the VR rules of ``imaging/element_integrity``."""

from __future__ import annotations

import io
import struct

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit

from dicomlens.imaging.element_integrity import stream_problem, value_problem, walk_stream
from dicomlens.imaging.vr_conformance import conforms


def _file(ds: Dataset, syntax: str = ExplicitVRLittleEndian) -> bytes:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.3"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _nested() -> Dataset:
    ds = Dataset()
    inner = Dataset()
    inner.CodeValue = "T-D3000"
    inner.CodeMeaning = "Chest"
    outer = Dataset()
    outer.AnatomicRegionModifierSequence = Sequence([inner])
    ds.AnatomicRegionSequence = Sequence([outer])
    ds.PatientName = "QUILLFEATHER^OSWIN"
    return ds


def test_sound_files_pass_in_both_encodings_with_nested_sequences() -> None:
    assert stream_problem(_file(_nested())) is None
    assert stream_problem(_file(_nested(), ImplicitVRLittleEndian)) is None
    assert stream_problem(_file(_nested()) + b"\x00\x00") is None  # zero padding is fine


def test_an_item_length_running_past_its_sequence_is_found() -> None:
    data = bytearray(_file(_nested(), ImplicitVRLittleEndian))
    at = data.index(struct.pack("<HH", 0xFFFE, 0xE000))  # the outer item
    data[at + 4 : at + 8] = struct.pack("<I", 4000)
    problem = stream_problem(bytes(data))
    assert problem is not None and "(0008,2218)" in problem


def test_an_element_running_past_the_end_of_the_file_is_found() -> None:
    ds = Dataset()
    ds.Modality = "OT"
    data = _file(ds)
    problem = stream_problem(data[:-1])
    assert problem is not None and "runs past" in problem


def test_encapsulated_fragments_are_walked() -> None:
    ds = Dataset()
    ds.PixelData = encapsulate([b"\xff\xd8" + b"\x00" * 30 + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    data = _file(ds, JPEGBaseline8Bit)
    assert stream_problem(data) is None
    assert stream_problem(data[:-8]) is not None  # no sequence delimiter: no end


def test_values_that_break_their_vr_are_found_without_the_value() -> None:
    ds = Dataset()
    ds.Modality = "CT" * 40
    assert value_problem(ds) == "element (0008,0060) (CS) is longer than its VR allows"
    ds.Modality = "CT\x1b"
    assert value_problem(ds) == "element (0008,0060) (CS) holds characters its VR does not allow"
    ds = Dataset()
    ds.StudyDescription = "CT\x01"
    assert value_problem(ds) == "element (0008,1030) (LO) holds control characters"
    ds = Dataset()
    ds.add_new(0x00080018, "UI", "1.2.QUILL")
    assert value_problem(ds) == "element (0008,0018) (UI) holds characters its VR does not allow"
    ds = Dataset()
    ds.PatientName = "A" * 65
    assert value_problem(ds) == "element (0010,0010) (PN) is longer than its VR allows"
    ds = Dataset()
    ds.Modality = "ct"  # devices write lower case: tolerated
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOM/RAD"]
    assert value_problem(ds) is None


def test_a_tag_out_of_order_or_an_unknown_vr_is_found() -> None:
    ds = Dataset()
    ds.Modality = "OT"
    ds.PatientName = "QUILLFEATHER^OSWIN"
    data = _file(ds)
    at = data.index(b"\x10\x00\x10\x00PN")
    swapped = data[:at] + b"\x08\x00\x10\x00PN" + data[at + 6 :]  # (0008,0010) after (0008,0060)
    assert "out of tag order" in (stream_problem(swapped) or "")
    unknown = data[:at] + b"\x10\x00\x10\x00ZZ" + data[at + 6 :]
    assert "no valid VR" in (stream_problem(unknown) or "")


def test_a_file_meta_group_shorter_than_its_group_length_is_found() -> None:
    data = bytearray(_file(_nested()))
    at = data.index(b"\x02\x00\x00\x00UL") + 8
    length = struct.unpack_from("<I", data, at)[0]
    data[at : at + 4] = struct.pack("<I", length + 40)
    assert "group length" in (stream_problem(bytes(data)) or "")


def test_a_header_only_walk_stops_at_the_pixel_data_and_says_where() -> None:
    ds = Dataset()
    ds.Modality = "OT"
    ds.BitsAllocated = 8
    ds.PixelData = b"\x00" * 64
    ds["PixelData"].VR = "OB"
    data = _file(ds)
    walk = walk_stream(data[:-10], header_only=True)  # the pixel data itself is cut
    assert walk.problem is None
    assert walk.pixel_data_at == data.index(b"\xe0\x7f\x10\x00")
    assert stream_problem(data[:-10]) is not None  # a whole walk finds the cut


def test_summary_values_obey_their_vr() -> None:
    assert conforms("CS", "CT ") and not conforms("CS", "ct") and not conforms("CS", "C" * 17)
    assert conforms("DS", " 1.5e3") and not conforms("DS", "NaN") and not conforms("DS", "1e999")
    assert conforms("UI", "1.2.840\x00") and not conforms("UI", "1.2.abc")
    assert conforms("DA", "20240131") and conforms("DA", "1997.04.24")
    assert not conforms("DA", "2024-01-31")
    assert conforms("IS", "12") and not conforms("IS", "99999999999")
    assert not conforms("PN", "A" * 65) and conforms("PN", "A" * 64 + "=" + "B" * 64)
    assert not conforms("LO", "ACME\x01")
