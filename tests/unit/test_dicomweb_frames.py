"""WADO-RS frames and bulk data: bit-exact against pydicom, decoded against DCMTK/GDCM."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicomlens.analysis.pipeline import AnalysisOptions, analyze_file
from dicomlens.dicomweb.bulk import read_bulk
from dicomlens.dicomweb.frames import (
    frame_layout,
    layout_from_json,
    layout_to_json,
    parse_frame_list,
    read_frames,
    read_stored_frames,
)
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.limits import ImagingLimits

LIMITS = ImagingLimits()
ELE = "1.2.840.10008.1.2.1"


def _file(name: str) -> Path:
    found = get_testdata_file(name)
    if found is None:
        pytest.skip(f"{name} is not available offline")
    return Path(str(found))


def _frame_count(ds: Dataset) -> int:
    return int(ds.get("NumberOfFrames", 1) or 1)


ENCAPSULATED = [
    "SC_rgb_jpeg.dcm",  # JPEG baseline
    "JPEGLSNearLossless_16.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEG2000.dcm",
    "MR_small_RLE.dcm",
    "SC_rgb_rle_2frame.dcm",
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG lossless
    "emri_small_jpeg_2k_lossless.dcm",  # 10 frames
    "emri_small_RLE.dcm",
]


@pytest.mark.parametrize("name", ENCAPSULATED)
def test_stored_frames_are_the_codestreams_pydicom_finds(name: str) -> None:
    path = _file(name)
    ds = pydicom.dcmread(path)
    count = _frame_count(ds)
    expected = list(generate_frames(ds.PixelData, number_of_frames=count))
    numbers = list(range(count, 0, -1))  # any order, as asked
    answer = read_frames(path, numbers, transfer_syntax="*", limits=LIMITS)
    assert answer.transfer_syntax == ds.file_meta.TransferSyntaxUID
    assert [f.number for f in answer.frames] == numbers
    assert [f.data for f in answer.frames] == [expected[n - 1] for n in numbers]


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_implicit.dcm", "rtdose.dcm", "emri_small.dcm"]
)
def test_native_frames_are_the_stored_bytes(name: str) -> None:
    path = _file(name)
    ds = pydicom.dcmread(path)
    count = _frame_count(ds)
    size = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * int(ds.BitsAllocated) // 8
    for syntax in ("*", ELE, None):
        answer = read_frames(path, [count, 1], transfer_syntax=syntax, limits=LIMITS)
        assert answer.transfer_syntax == ELE
        assert answer.frames[0].data == ds.PixelData[(count - 1) * size : count * size]
        assert answer.frames[1].data == ds.PixelData[:size]


def _one_bit_file(tmp_path: Path, rows: int, columns: int, frames: int) -> tuple[Path, np.ndarray]:
    """A 1-bit multi-frame file whose frames start mid-byte (rows x columns odd)."""
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2, size=(frames, rows, columns), dtype=np.uint8)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "SEG"
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    packed = np.packbits(bits.ravel(), bitorder="little").tobytes()
    ds.PixelData = packed + b"\0" * (len(packed) % 2)
    ds["PixelData"].VR = "OB"
    path = tmp_path / "bits.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, bits


def test_one_bit_frames_starting_mid_byte_are_realigned(tmp_path: Path) -> None:
    path, bits = _one_bit_file(tmp_path, rows=3, columns=5, frames=4)
    answer = read_frames(path, [1, 2, 3, 4], transfer_syntax="*", limits=LIMITS)
    for frame in answer.frames:
        assert len(frame.data) == 2  # ceil(15 / 8), not padded
        got = np.unpackbits(np.frombuffer(frame.data, np.uint8), bitorder="little")[:15]
        assert np.array_equal(got.reshape(3, 5), bits[frame.number - 1])
    # pydicom's decoding of the whole file agrees
    arr = pydicom.dcmread(path).pixel_array
    decoded = read_frames(path, [3], transfer_syntax=ELE, limits=LIMITS).frames[0].data
    assert decoded == np.packbits(arr[2].ravel(), bitorder="little").tobytes()


def test_liver_one_bit_frames_match_pydicom() -> None:
    path = _file("liver.dcm")
    arr = pydicom.dcmread(path).pixel_array
    frames = read_frames(path, [1, 2, 3], transfer_syntax="*", limits=LIMITS).frames
    for frame in frames:
        unpacked = np.unpackbits(np.frombuffer(frame.data, np.uint8), bitorder="little")
        assert np.array_equal(unpacked.reshape(arr.shape[1:]), arr[frame.number - 1])


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",
        "JPEG2000.dcm",
        "SC_rgb_rle_2frame.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
    ],
)
def test_decoded_frames_are_pydicoms_pixel_array(name: str) -> None:
    path = _file(name)
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    count = _frame_count(ds)
    arr = arr if count > 1 else arr[None]
    answer = read_frames(path, list(range(1, count + 1)), transfer_syntax=ELE, limits=LIMITS)
    dtype = f"<{'i' if ds.PixelRepresentation else 'u'}{ds.BitsAllocated // 8}"
    for frame in answer.frames:
        assert frame.data == arr[frame.number - 1].astype(dtype).tobytes()


ORACLES = {
    "MR_small_RLE.dcm": ["dcmdrle"],
    "SC_rgb_rle_2frame.dcm": ["dcmdrle"],
    "MR_small_jpeg_ls_lossless.dcm": ["dcmdjpls"],
    "SC_rgb_jpeg_gdcm.dcm": ["dcmdjpeg"],
    "SC_rgb_jpeg_dcmtk.dcm": ["dcmdjpeg"],  # lossy YBR baseline: decoded to RGB as dcmdjpeg
    "emri_small_jpeg_2k_lossless.dcm": ["gdcmconv", "--raw"],
}


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_decoded_frames_equal_dcmtk_or_gdcm(name: str, tmp_path: Path) -> None:
    command = ORACLES[name]
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    path = _file(name)
    out = tmp_path / "raw.dcm"
    subprocess.run([*command, str(path), str(out)], check=True, capture_output=True, timeout=60)
    raw = pydicom.dcmread(out)
    count = _frame_count(raw)
    answer = read_frames(path, list(range(1, count + 1)), transfer_syntax=ELE, limits=LIMITS)
    oracle = raw.pixel_array if count > 1 else raw.pixel_array[None]  # interleaved samples
    dtype = f"<{'i' if raw.PixelRepresentation else 'u'}{raw.BitsAllocated // 8}"
    for frame in answer.frames:
        assert frame.data == oracle[frame.number - 1].astype(dtype).tobytes()


@pytest.mark.parametrize(
    ("numbers", "code"), [([0], ErrorCode.NOT_FOUND), ([99999], ErrorCode.NOT_FOUND)]
)
def test_missing_frames_are_not_found(numbers: list[int], code: ErrorCode) -> None:
    with pytest.raises(DicomlensError) as caught:
        read_frames(_file("emri_small_RLE.dcm"), numbers, transfer_syntax="*", limits=LIMITS)
    assert caught.value.code == code


def test_other_syntaxes_are_not_acceptable() -> None:
    with pytest.raises(DicomlensError) as caught:
        read_frames(
            _file("CT_small.dcm"), [1], transfer_syntax="1.2.840.10008.1.2.4.50", limits=LIMITS
        )
    assert caught.value.code == ErrorCode.NOT_ACCEPTABLE


def test_non_image_has_no_frames() -> None:
    with pytest.raises(DicomlensError) as caught:
        read_frames(_file("test-SR.dcm"), [1], transfer_syntax="*", limits=LIMITS)
    assert caught.value.code == ErrorCode.NOT_FOUND


def test_answer_size_is_capped() -> None:
    with pytest.raises(DicomlensError) as caught:
        read_frames(
            _file("emri_small.dcm"),
            [1] * 10,
            transfer_syntax="*",
            limits=LIMITS,
            max_bytes=8192 * 9,
        )
    assert caught.value.code == ErrorCode.TOO_LARGE


def test_frame_lists() -> None:
    assert parse_frame_list("1") == (1,)
    assert parse_frame_list("3,1%2C2") == (3, 1, 2)
    for bad in ("", "0", "1,,2", "-1", "1.5", "a", "1" * 12, ",".join(["1"] * 10_001)):
        with pytest.raises(DicomlensError) as caught:
            parse_frame_list(bad)
        assert caught.value.code == ErrorCode.VALIDATION_ERROR


def test_bulk_pixel_data_and_nested_values() -> None:
    native = _file("CT_small.dcm")
    assert read_bulk(native, "7FE00010", limits=LIMITS) == pydicom.dcmread(native).PixelData
    rle = _file("SC_rgb_rle_2frame.dcm")
    ds = pydicom.dcmread(rle)
    assert read_bulk(rle, "7fe00010", limits=LIMITS) == b"".join(
        generate_frames(ds.PixelData, number_of_frames=2)
    )
    palette = _file("examples_palette.dcm")
    pal = pydicom.dcmread(palette)
    assert read_bulk(palette, "00281201", limits=LIMITS) == pal.RedPaletteColorLookupTableData
    plan = _file("rtplan.dcm")
    angle = pydicom.dcmread(plan).BeamSequence[0].ControlPointSequence[0].GantryAngle
    nested = read_bulk(plan, "300A00B0/0/300A0111/0/300A011E", limits=LIMITS)
    assert float(nested.decode()) == float(angle)
    for bad, code in [("7FE0", ErrorCode.VALIDATION_ERROR), ("00091010", ErrorCode.NOT_FOUND)]:
        with pytest.raises(DicomlensError) as caught:
            read_bulk(native, bad, limits=LIMITS)
        assert caught.value.code == code


@pytest.mark.parametrize("name", ["CT_small.dcm", "emri_small_jpeg_2k_lossless.dcm", "rtdose.dcm"])
def test_a_kept_layout_reads_the_same_frames_as_the_file(name: str) -> None:
    # Given the layout of a file written as JSON (what the processor keeps) and read back
    path = _file(name)
    layout = frame_layout(path, LIMITS)
    kept = layout_from_json(layout_to_json(layout))
    assert kept == layout
    # When frames are read with it, stored or decoded
    numbers = tuple(range(1, layout.frame_count + 1))
    for syntax in ("*", ELE):
        with_kept = read_frames(path, numbers, transfer_syntax=syntax, limits=LIMITS, layout=kept)
        read = read_frames(path, numbers, transfer_syntax=syntax, limits=LIMITS)
        # Then they are the same bytes as reading the file's own layout gives
        assert with_kept == read


def test_an_unreadable_kept_layout_is_an_internal_error() -> None:
    with pytest.raises(DicomlensError) as raised:
        layout_from_json(b'{"transfer_syntax": 1}')
    assert raised.value.code == ErrorCode.INTERNAL


@pytest.mark.parametrize("name", ["CT_small.dcm", "emri_small_RLE.dcm", "SC_rgb_rle_2frame.dcm"])
def test_stored_frames_read_by_ranges_are_the_files_frames(name: str) -> None:
    # Given an instance's kept layout and a reader of byte ranges (as of an S3 object)
    path = _file(name)
    data = path.read_bytes()
    reads: list[tuple[int, int]] = []

    def read(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return data[offset : offset + length]

    layout = frame_layout(path, LIMITS)
    numbers = tuple(range(layout.frame_count, 0, -1))
    # When the stored frames are read by ranges
    answer = read_stored_frames(read, layout, numbers, transfer_syntax="*")
    # Then they are the frames the file gives, one range per frame
    assert answer == read_frames(path, numbers, transfer_syntax="*", limits=LIMITS)
    assert len(reads) == len(numbers)
    assert sum(length for _, length in reads) < len(data)


def test_frames_to_decode_are_not_read_by_ranges() -> None:
    path = _file("emri_small_RLE.dcm")
    layout = frame_layout(path, LIMITS)
    assert read_stored_frames(lambda o, n: b"", layout, (1,), transfer_syntax=ELE) is None
    with pytest.raises(DicomlensError) as raised:
        read_stored_frames(lambda o, n: b"", layout, (99,), transfer_syntax="*")
    assert raised.value.code == ErrorCode.NOT_FOUND


@pytest.mark.parametrize(
    "name",
    [
        *ENCAPSULATED,
        "CT_small.dcm",
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",  # read through byte patches
        "rtdose.dcm",  # native, 15 frames
        "emri_small.dcm",
        "liver.dcm",  # 1-bit frames
    ],
)
def test_the_layout_from_the_analysis_parse_is_the_layout_from_a_parse_of_its_own(
    name: str,
) -> None:
    # Given a file the analysis has read (its parse up to the pixel data kept)
    path = _file(name)
    analysis = analyze_file(path, AnalysisOptions(analyzers=()))
    assert analysis.located is not None and analysis.located.path == path
    # Then the frame layout made from that parse is the one a fresh parse gives
    assert frame_layout(path, LIMITS, located=analysis.located) == frame_layout(path, LIMITS)


def test_a_deflated_file_has_no_parse_to_share_and_its_layout_is_made_as_before() -> None:
    path = _file("image_dfl.dcm")
    analysis = analyze_file(path, AnalysisOptions(analyzers=()))
    assert analysis.located is None  # inflated whole, not located
    assert frame_layout(path, LIMITS, located=analysis.located).stored_readable is False


def test_a_parse_of_another_file_version_is_not_used(tmp_path: Path) -> None:
    # Given the analysis's parse of a file that was then replaced by a longer one
    path = tmp_path / "ct.dcm"
    shutil.copyfile(_file("CT_small.dcm"), path)
    located = analyze_file(path, AnalysisOptions(analyzers=())).located
    shutil.copyfile(_file("rtdose.dcm"), path)
    # Then the layout is the new file's
    assert frame_layout(path, LIMITS, located=located).frame_count == _frame_count(
        pydicom.dcmread(path)
    )
