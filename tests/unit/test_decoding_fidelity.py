"""Kinds of file that real archives hold and DCMTK or GDCM show: each is decoded right.

One section per kind, each with its neighbours. Every file is generated here (see the
decoding fidelity builders in tests/corpus/generate.py); the integration suite
tests/integration/test_decoding_oracle.py checks the same kinds against DCMTK and GDCM.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGExtended12Bit,
    RLELossless,
)

from corpus.generate import (
    acr_nema,
    as_extended,
    as_hierarchical,
    big_endian_with_un_sequence,
    grey_dataset,
    header_only,
    jpeg_file,
    lost_pixel_data,
    pillow_jpeg,
    ramp,
    rle_bytes,
    to_bytes,
    with_repeated_meta,
    without_sequence_delimiter,
)
from dicomlens.analysis.pipeline import analyze_file
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.results import (
    ACR_NEMA_ASSUMED,
    JPEG_SCAN_HEADER_REPAIRED,
    SEQUENCE_DELIMITER_MISSING,
    TRANSFER_SYNTAX_CONFLICT,
    UN_SEQUENCE_SKIPPED,
)
from dicomlens.imaging.decode import DecodedImage, read_image
from dicomlens.imaging.jpeg_scan import repair_scan_headers
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.pixel_codecs import codec_syntax, require_codec
from dicomlens.imaging.render import render

LIMITS = ImagingLimits()
GREY12 = ramp(24, 30, 0, 4095).astype(np.uint16)
GREY8 = ramp(48, 64, 0, 255).astype(np.uint8)


def _read(tmp_path: Path, data: bytes, name: str = "case.dcm") -> DecodedImage:
    path = tmp_path / name
    path.write_bytes(data)
    return read_image(path, limits=LIMITS)


def _kinds(image: DecodedImage) -> list[str]:
    return [finding.kind for finding in image.findings]


def _pillow_decode(codestream: bytes) -> np.ndarray:
    from io import BytesIO

    with Image.open(BytesIO(codestream)) as img:
        return np.asarray(img)


# --------------------------------------------------------------- 4. repeated group 0002


@pytest.mark.parametrize(
    "repeated", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]
)
def test_the_file_meta_transfer_syntax_wins_over_a_repeated_group_0002(
    tmp_path: Path, repeated: UID
) -> None:
    # Given an RLE file whose dataset repeats (0002,0010) naming a native syntax, one with
    # another VR encoding or byte order among them
    data = with_repeated_meta(rle_bytes(400, GREY12, bits_stored=12), repeated)
    # When it is read
    image = _read(tmp_path, data)
    # Then the pixels are decoded as RLE, and a finding says what was ignored
    assert np.array_equal(image.pixels, GREY12)
    assert _kinds(image) == [TRANSFER_SYNTAX_CONFLICT]
    assert image.dataset is not None
    assert image.dataset.file_meta.TransferSyntaxUID == RLELossless
    assert image.dataset.PatientID == "GEN0400"  # the dataset was parsed in its encoding


def test_a_repeated_group_0002_after_a_meta_without_group_length_is_overruled(
    tmp_path: Path,
) -> None:
    # Given an RLE file whose file meta lacks its group length (0002,0000), so the end of
    # the file meta is unknown, and whose dataset repeats (0002,0010)
    data = with_repeated_meta(rle_bytes(414, GREY12, bits_stored=12), ExplicitVRLittleEndian)
    assert data[132:138] == b"\x02\x00\x00\x00UL"
    data = data[:132] + data[144:]
    # When it is read
    image = _read(tmp_path, data)
    # Then the first (the file meta's) transfer syntax is used, with the finding
    assert np.array_equal(image.pixels, GREY12)
    assert _kinds(image) == [TRANSFER_SYNTAX_CONFLICT]


@pytest.mark.parametrize(
    ("syntax", "encoding"),
    [(ImplicitVRLittleEndian, "implicit-le"), (ExplicitVRBigEndian, "explicit-be")],
)
def test_a_repeated_group_0002_in_a_native_dataset_does_not_change_its_encoding(
    tmp_path: Path, syntax: UID, encoding: str
) -> None:
    # Given native files whose dataset repeats (0002,0010) in the dataset's own encoding
    ds = grey_dataset(401, GREY12, bits_stored=12)
    if syntax == ExplicitVRBigEndian:
        ds.PixelData = GREY12.astype(">u2").tobytes()
    native = to_bytes(ds, syntax=syntax)
    data = with_repeated_meta(native, ExplicitVRLittleEndian, encoding=encoding)
    # When it is read
    image = _read(tmp_path, data)
    # Then the pixels are those written
    assert np.array_equal(image.pixels, GREY12)
    assert image.dataset is not None
    assert image.dataset.file_meta.TransferSyntaxUID == syntax


def test_a_transfer_syntax_conflict_reaches_the_analysis_findings(tmp_path: Path) -> None:
    # Given a file whose dataset repeats group 0002
    path = tmp_path / "repeated.dcm"
    path.write_bytes(
        with_repeated_meta(rle_bytes(402, GREY12, bits_stored=12), ExplicitVRLittleEndian)
    )
    # When it is analysed
    result = analyze_file(path).result
    # Then the finding is in the result
    assert TRANSFER_SYNTAX_CONFLICT in [finding.kind for finding in result.findings]


# --------------------------------------------------------------- 5. every JPEG process

RETIRED_JPEG = [f"1.2.840.10008.1.2.4.{n}" for n in (*range(52, 57), *range(58, 67))]


@pytest.mark.parametrize("uid", RETIRED_JPEG)
def test_every_retired_jpeg_syntax_has_an_installed_codec(uid: str) -> None:
    # Given a retired JPEG transfer syntax of PS3.6
    # Then an installed plugin decodes its codestreams (no UNSUPPORTED_TRANSFER_SYNTAX)
    require_codec(UID(uid))
    assert codec_syntax(UID(uid)) in ("1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57")


def _progressive() -> bytes:
    return pillow_jpeg(GREY8, progressive=True)


def _sequential() -> bytes:
    return as_extended(pillow_jpeg(GREY8))


@pytest.mark.parametrize(
    ("uid", "build", "twin"),
    [
        ("1.2.840.10008.1.2.4.55", _progressive, _progressive),
        ("1.2.840.10008.1.2.4.59", lambda: as_hierarchical(_sequential()), _sequential),
        ("1.2.840.10008.1.2.4.61", lambda: as_hierarchical(_progressive()), _progressive),
        ("1.2.840.10008.1.2.4.63", lambda: as_hierarchical(_progressive()), _progressive),
    ],
    ids=["progressive", "hierarchical-sequential", "hierarchical-spectral", "hierarchical-full"],
)
def test_a_retired_jpeg_process_is_decoded(
    tmp_path: Path, uid: str, build: Callable[[], bytes], twin: Callable[[], bytes]
) -> None:
    # Given a file of a retired JPEG process, and its non-hierarchical twin codestream
    data = jpeg_file(403, GREY8, [build()], UID(uid))
    # When it is read
    image = _read(tmp_path, data)
    # Then it decodes to what IJG (Pillow) decodes the twin to, within one level
    reference = _pillow_decode(twin())
    assert image.pixels is not None
    assert image.pixels.shape == GREY8.shape
    assert np.abs(image.pixels.astype(int) - reference.astype(int)).max() <= 1
    assert np.abs(image.pixels.astype(int) - GREY8.astype(int)).mean() < 3


def test_a_hierarchical_frame_no_codec_can_decode_is_invalid_and_named(tmp_path: Path) -> None:
    # Given a hierarchical codestream that the codecs refuse (a differential frame alone)
    codestream = bytearray(as_extended(pillow_jpeg(GREY8)))
    offset = codestream.index(b"\xff\xc1")
    codestream[offset + 1] = 0xC5  # differential sequential without its reference frame
    data = jpeg_file(404, GREY8, [bytes(codestream)], UID("1.2.840.10008.1.2.4.59"))
    # When it is read
    with pytest.raises(DicomlensError) as caught:
        _read(tmp_path, data)
    # Then the file is invalid (a codec exists, the data cannot be decoded) and says which
    assert caught.value.code == ErrorCode.INVALID_DICOM
    assert "Hierarchical" in caught.value.message


# --------------------------------------------------------------- 6. non-standard scan headers


def _scan_fields(codestream: bytes) -> tuple[int, int, int]:
    sos = codestream.index(b"\xff\xda")
    fields = sos + 5 + 2 * codestream[sos + 4]
    return codestream[fields], codestream[fields + 1], codestream[fields + 2]


def _with_scan_fields(codestream: bytes, ss: int, se: int, approximation: int) -> bytes:
    data = bytearray(codestream)
    sos = data.index(b"\xff\xda")
    fields = sos + 5 + 2 * data[sos + 4]
    data[fields : fields + 3] = bytes([ss, se, approximation])
    return bytes(data)


@pytest.mark.parametrize(("ss", "se", "approximation"), [(0, 0, 0), (1, 63, 0), (0, 63, 0x11)])
def test_a_sequential_scan_header_is_given_the_fields_its_process_fixes(
    ss: int, se: int, approximation: int
) -> None:
    # Given a sequential codestream whose scan header holds other values
    original = as_extended(pillow_jpeg(GREY8))
    damaged = _with_scan_fields(original, ss, se, approximation)
    # When it is repaired
    repaired = repair_scan_headers(damaged)
    # Then only the fixed fields change, back to Ss=0, Se=63, Ah=Al=0
    assert repaired == original


def test_a_lossless_scan_header_keeps_its_predictor_and_point_transform() -> None:
    # Given a lossless scan header (SOF3) with Se=63 and Ah=2, predictor 6, Pt 1
    sequential = as_extended(pillow_jpeg(GREY8))
    offset = sequential.index(b"\xff\xc1")
    lossless = sequential[: offset + 1] + b"\xc3" + sequential[offset + 2 :]
    damaged = _with_scan_fields(lossless, 6, 63, 0x21)
    # When it is repaired
    repaired = repair_scan_headers(damaged)
    # Then Se and Ah take their fixed values; Ss (predictor) and Al (point transform) stay
    assert repaired is not None
    assert _scan_fields(repaired) == (6, 0, 0x01)


def test_standard_and_progressive_scan_headers_are_left_alone() -> None:
    # Given a standard sequential codestream, and a progressive one
    # Then there is nothing to repair
    assert repair_scan_headers(as_extended(pillow_jpeg(GREY8))) is None
    assert repair_scan_headers(pillow_jpeg(GREY8, progressive=True)) is None
    assert repair_scan_headers(b"not a jpeg") is None


def test_a_scan_header_the_codec_refuses_is_repaired_with_a_finding(tmp_path: Path) -> None:
    # Given an 8-bit JPEG Extended file whose frame libjpeg refuses (Se=0 in a sequential
    # scan), decoded without Pillow (which, like DCMTK, would tolerate it)
    damaged = _with_scan_fields(as_extended(pillow_jpeg(GREY8)), 0, 0, 0)
    hierarchical = as_hierarchical(damaged)  # only libjpeg decodes hierarchical frames
    data = jpeg_file(405, GREY8, [hierarchical], UID("1.2.840.10008.1.2.4.59"))
    # When it is read
    image = _read(tmp_path, data)
    # Then it decodes like the undamaged frame, and says that the header was repaired
    reference = _pillow_decode(pillow_jpeg(GREY8))
    assert image.pixels is not None
    assert np.abs(image.pixels.astype(int) - reference.astype(int)).max() <= 1
    assert _kinds(image) == [JPEG_SCAN_HEADER_REPAIRED]


# --------------------------------------------------------------- 7. no sequence delimiter

FRAMES = np.stack([GREY12 // 2 + 100 * k for k in range(3)]).astype(np.uint16)


@pytest.mark.parametrize("keep", [0, 4], ids=["delimiter-missing", "delimiter-cut-in-half"])
@pytest.mark.parametrize("frame", [0, 1, 2])
def test_encapsulated_data_without_its_delimiter_is_decoded_with_a_finding(
    tmp_path: Path, keep: int, frame: int
) -> None:
    # Given a three-frame RLE file whose sequence delimiter is missing or cut
    data = without_sequence_delimiter(rle_bytes(406, FRAMES, bits_stored=12), keep=keep)
    path = tmp_path / "no-delimiter.dcm"
    path.write_bytes(data)
    # When any frame is read
    image = read_image(path, limits=LIMITS, frame=frame)
    # Then it is that frame, and a finding says the delimiter is missing
    assert np.array_equal(image.pixels, FRAMES[frame])
    assert _kinds(image) == [SEQUENCE_DELIMITER_MISSING]


def test_a_cut_fragment_is_still_truncated(tmp_path: Path) -> None:
    # Given an RLE file cut inside its last fragment
    data = without_sequence_delimiter(rle_bytes(407, FRAMES, bits_stored=12))[:-20]
    # When it is read
    with pytest.raises(DicomlensError) as caught:
        _read(tmp_path, data)
    # Then it is truncated
    assert caught.value.code == ErrorCode.TRUNCATED_PIXEL_DATA


def test_a_file_cut_right_after_its_offset_table_is_still_truncated(tmp_path: Path) -> None:
    # Given an RLE file holding only the offset table item
    data = rle_bytes(408, GREY12, bits_stored=12)
    table = data.index(b"\xfe\xff\x00\xe0")
    length = int.from_bytes(data[table + 4 : table + 8], "little")
    # When it is read
    with pytest.raises(DicomlensError) as caught:
        _read(tmp_path, data[: table + 8 + length])
    # Then it is truncated
    assert caught.value.code == ErrorCode.TRUNCATED_PIXEL_DATA


# --------------------------------------------------------------- 8. big endian UN sequences


@pytest.mark.parametrize("nested", [False, True], ids=["top-level", "inside-a-sequence"])
def test_a_big_endian_file_with_an_undefined_length_un_sequence_is_read(
    tmp_path: Path, nested: bool
) -> None:
    # Given an explicit big endian file with a UN sequence encoded as PS3.5 6.2.2 says
    data = big_endian_with_un_sequence(409, GREY12, nested=nested)
    # When it is read
    image = _read(tmp_path, data)
    # Then the image and the rest of the header are read, with a finding naming the tag
    assert np.array_equal(image.pixels, GREY12)
    assert image.dataset is not None
    assert image.dataset.PatientID == "GEN0409"
    assert _kinds(image) == [UN_SEQUENCE_SKIPPED]
    assert "(0009,1010)" in image.findings[0].message or nested


# --------------------------------------------------------------- 9. ACR-NEMA packed 12-bit

ODD = (np.arange(7 * 9).reshape(7, 9) * 61 % 4096).astype(np.uint16)


@pytest.mark.parametrize(
    ("values", "frame"),
    [
        (GREY12, 0),
        (ODD, 0),
        *((np.stack([ODD, 4095 - ODD, ODD // 2]), k) for k in range(3)),
    ],
    ids=["even", "odd-pixel-count", "frame-0", "frame-1-starts-mid-byte", "frame-2"],
)
def test_acr_nema_packed_12_bit_is_unpacked(tmp_path: Path, values: np.ndarray, frame: int) -> None:
    frames = values.shape[0] if values.ndim == 3 else 1
    # Given an ACR-NEMA file: packed 12-bit, no Photometric Interpretation, no file meta
    path = tmp_path / "acr.dcm"
    path.write_bytes(acr_nema(values, frames=frames))
    # When a frame is read
    image = read_image(path, limits=LIMITS, frame=frame)
    # Then it holds the values written, shown as MONOCHROME2, with findings that say so
    expected = values[frame] if frames > 1 else values
    assert np.array_equal(image.pixels, expected)
    assert image.photometric == "MONOCHROME2"
    assert _kinds(image) == [ACR_NEMA_ASSUMED, ACR_NEMA_ASSUMED]
    render(image)


def test_acr_nema_16_bit_without_photometric_interpretation_is_monochrome2(
    tmp_path: Path,
) -> None:
    # Given an ACR-NEMA file of 16-bit values without Photometric Interpretation
    image = _read(tmp_path, acr_nema(GREY12, bits_allocated=16))
    # Then it is read as MONOCHROME2, with one finding
    assert np.array_equal(image.pixels, GREY12)
    assert image.photometric == "MONOCHROME2"
    assert _kinds(image) == [ACR_NEMA_ASSUMED]


def test_a_file_that_states_its_photometric_interpretation_has_no_finding(tmp_path: Path) -> None:
    image = _read(tmp_path, acr_nema(GREY12, bits_allocated=16, photometric=True))
    assert np.array_equal(image.pixels, GREY12)
    assert _kinds(image) == []


def test_packed_12_bit_compressed_data_is_invalid(tmp_path: Path) -> None:
    # Given an RLE file that claims BitsAllocated 12
    data = rle_bytes(410, GREY12, bits_stored=12)
    bits_allocated = b"\x28\x00\x00\x01US\x02\x00"  # (0028,0100) US, length 2
    data = data.replace(bits_allocated + b"\x10\x00", bits_allocated + b"\x0c\x00")
    # When it is read
    with pytest.raises(DicomlensError) as caught:
        _read(tmp_path, data)
    # Then it is invalid
    assert caught.value.code == ErrorCode.INVALID_DICOM


# --------------------------------------------------------------- 10. lost pixel data


@pytest.mark.parametrize("group", [0x0009, 0x0029], ids=["before-rows", "after-rows"])
def test_an_image_whose_pixel_data_was_lost_is_invalid(tmp_path: Path, group: int) -> None:
    # Given an image whose damaged private sequence swallowed the rest of the dataset
    data = lost_pixel_data(411, GREY12, group=group)
    # When it is read
    with pytest.raises(DicomlensError) as caught:
        _read(tmp_path, data)
    # Then it is INVALID_DICOM, saying where parsing stopped, and no value of the file
    assert caught.value.code == ErrorCode.INVALID_DICOM
    assert f"({group:04X},1010)" in caught.value.message
    assert "Generated" not in caught.value.message
    assert "GEN0411" not in caught.value.message


def test_an_image_cut_before_its_pixel_data_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(DicomlensError) as caught:
        _read(tmp_path, header_only(412, GREY12))
    assert caught.value.code == ErrorCode.INVALID_DICOM
    assert "end of the file" in caught.value.message


def test_an_image_storage_object_without_rows_or_pixels_is_invalid(tmp_path: Path) -> None:
    # Given a CT Image Storage object that lost its image attributes and pixel data
    ds = grey_dataset(413, GREY12, bits_stored=12)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    for keyword in ("Rows", "Columns", "PixelData"):
        del ds[keyword]
    with pytest.raises(DicomlensError) as caught:
        _read(tmp_path, to_bytes(ds))
    assert caught.value.code == ErrorCode.INVALID_DICOM


def test_a_retired_lossy_syntax_uses_the_extended_decoder() -> None:
    assert codec_syntax(UID("1.2.840.10008.1.2.4.53")) == JPEGExtended12Bit
