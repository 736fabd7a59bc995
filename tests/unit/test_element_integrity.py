"""The raw element-stream walk and the VR rules of ``imaging/element_integrity``."""

from __future__ import annotations

import io
import struct

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit

from dicomlens.imaging.element_integrity import stream_problem, value_problem


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
