"""The decoding fidelity kinds, checked against DCMTK and GDCM as oracles.

Each case is a file generated here (pydicom, then DCMTK's ``dcmcjpeg`` for the JPEG
processes pydicom cannot encode). Where DCMTK or GDCM decodes the file, our stored values
must agree with theirs: exactly for lossless data, within one level on at least 99.9 % of
the pixels for lossy JPEG (two levels of 4096 for 12-bit, see :func:`_lossy_agree`).
Where neither decodes the file (hierarchical JPEG, which IJG never supported; multi-frame
fragments without a delimiter, which GDCM 3.0 refuses), the oracle is their decoding of
the same frames written the standard way. A missing tool skips locally and fails in CI.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.uid import UID, ExplicitVRLittleEndian

from corpus.generate import (
    acr_nema,
    as_extended,
    as_hierarchical,
    big_endian_with_un_sequence,
    grey_dataset,
    jpeg_file,
    lost_pixel_data,
    ramp,
    rle_bytes,
    to_bytes,
    with_repeated_meta,
    without_sequence_delimiter,
)
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.limits import ImagingLimits

AGREEMENT = 0.999
LIMITS = ImagingLimits()
GREY12 = ramp(64, 80, 0, 4095).astype(np.uint16)
GREY8 = ramp(64, 80, 0, 255).astype(np.uint8)
Tool = Callable[[str, list[str]], subprocess.CompletedProcess[str]]


@pytest.fixture
def tool(require_tool: Callable[[str], str]) -> Tool:
    """Run a DCMTK or GDCM tool; the test fails when it exits with an error."""

    def _run(name: str, args: list[str]) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [require_tool(name), *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, f"{name} {args}: {result.stderr[-400:]}"
        return result

    return _run


def _stored(path: Path) -> np.ndarray:
    return np.asarray(pydicom.dcmread(path).pixel_array)


def _ours(path: Path) -> np.ndarray:
    image = read_image(path, limits=LIMITS)
    assert image.pixels is not None
    return image.pixels


def _lossy_agree(ours: np.ndarray, reference: np.ndarray) -> float:
    """Lossy JPEG: 8-bit values within one level; 12-bit values within two of 4096.

    libjpeg's 12-bit IDCT and DCMTK's IJG one differ by up to two stored values near
    sharp edges (about 0.2 % of the pixels here): 1/2048 of the range, which is less
    than one grey level once rendered to 8 bits.
    """
    assert ours.shape == reference.shape
    tolerance = 1 if reference.dtype == np.uint8 else 2
    difference = np.abs(ours.astype(np.int64) - reference.astype(np.int64))
    share = float((difference <= tolerance).mean())
    assert share >= AGREEMENT, f"{share:.4%} within {tolerance} (max {difference.max()})"
    return share


def _native(tmp_path: Path, bits: int) -> Path:
    arr = GREY12 if bits == 12 else GREY8
    path = tmp_path / f"native{bits}.dcm"
    path.write_bytes(to_bytes(grey_dataset(300 + bits, arr, bits_stored=bits)))
    return path


def _dcmcjpeg(tool: Tool, tmp_path: Path, bits: int, process: str) -> Path:
    out = tmp_path / f"{process.strip('+')}{bits}.dcm"
    tool("dcmcjpeg", [process, str(_native(tmp_path, bits)), str(out)])
    return out


def _dcmdjpeg(tool: Tool, source: Path) -> np.ndarray:
    out = source.with_name(source.stem + "-dcmdjpeg.dcm")
    tool("dcmdjpeg", [str(source), str(out)])
    return _stored(out)


def _first_codestream(path: Path) -> bytes:
    ds = pydicom.dcmread(path)
    return bytes(next(generate_frames(ds.PixelData, number_of_frames=1)))


# --------------------------------------------------------------- 4. repeated group 0002


def test_a_repeated_group_0002_is_decoded_as_dcmtk_decodes_it(tool: Tool, tmp_path: Path) -> None:
    # Given a JPEG Lossless file whose dataset repeats (0002,0010) = Explicit VR LE
    lossless = _dcmcjpeg(tool, tmp_path, 12, "+el")
    path = tmp_path / "repeated-meta.dcm"
    path.write_bytes(with_repeated_meta(lossless.read_bytes(), ExplicitVRLittleEndian))
    # Then our values equal DCMTK's (which warns about the element and uses the file meta)
    assert np.array_equal(_ours(path), _dcmdjpeg(tool, path))
    assert np.array_equal(_ours(path), GREY12)


# --------------------------------------------------------------- 5. retired JPEG processes


@pytest.mark.parametrize("bits", [8, 12])
@pytest.mark.parametrize("process", ["+es", "+ep"], ids=["spectral-4.53", "progressive-4.55"])
def test_a_retired_jpeg_process_agrees_with_dcmtk(
    tool: Tool, tmp_path: Path, bits: int, process: str, record_property: Callable[..., None]
) -> None:
    # Given a file DCMTK encoded with a retired process (it writes 4.53 and 4.55)
    path = _dcmcjpeg(tool, tmp_path, bits, process)
    syntax = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    assert syntax in ("1.2.840.10008.1.2.4.53", "1.2.840.10008.1.2.4.55")
    # Then our stored values agree with DCMTK's
    record_property("agreement", _lossy_agree(_ours(path), _dcmdjpeg(tool, path)))


@pytest.mark.parametrize(
    ("bits", "process", "hierarchical_uid"),
    [
        (8, "+ee", "1.2.840.10008.1.2.4.59"),
        (12, "+ee", "1.2.840.10008.1.2.4.59"),
        (8, "+ep", "1.2.840.10008.1.2.4.63"),
        (12, "+ep", "1.2.840.10008.1.2.4.63"),
        (8, "+el", "1.2.840.10008.1.2.4.65"),
    ],
)
def test_a_hierarchical_jpeg_agrees_with_dcmtk_on_its_non_hierarchical_twin(
    tool: Tool, tmp_path: Path, bits: int, process: str, hierarchical_uid: str
) -> None:
    # Given DCMTK's codestream, wrapped as a one-frame hierarchical image (DHP)
    twin = _dcmcjpeg(tool, tmp_path, bits, process)
    arr = GREY12 if bits == 12 else GREY8
    path = tmp_path / "hierarchical.dcm"
    path.write_bytes(
        jpeg_file(320, arr, [as_hierarchical(_first_codestream(twin))], UID(hierarchical_uid))
    )
    # Then we decode it as DCMTK decodes the twin (which IJG can read)
    reference = _dcmdjpeg(tool, twin)
    if process == "+el":
        assert np.array_equal(_ours(path), reference)
    else:
        _lossy_agree(_ours(path), reference)


SPECTRAL_SCANS = "0: 0 0 0 0;\n0: 1 9 0 0;\n0: 10 63 0 0;\n"  # spectral selection only


@pytest.mark.parametrize(
    ("options", "syntaxes"),
    [
        ([], ("4.51", "4.52", "4.60")),
        (["-scans"], ("4.53", "4.54", "4.62")),
        (["-progressive"], ("4.55", "4.56", "4.64")),
    ],
    ids=["extended", "spectral", "progressive"],
)
def test_arithmetic_jpeg_agrees_with_dcmtk_on_its_huffman_twin(
    tool: Tool, tmp_path: Path, options: list[str], syntaxes: tuple[str, str, str]
) -> None:
    huffman_uid, arithmetic_uid, hierarchical_uid = (
        UID(f"1.2.840.10008.1.2.{suffix}") for suffix in syntaxes
    )
    # Given an 8-bit Huffman-coded JPEG, and its lossless transcoding to arithmetic coding
    # (jpegtran keeps every DCT coefficient), which IJG-based DCMTK cannot decode
    pgm = tmp_path / "grey.pgm"
    Image.fromarray(GREY8).save(pgm)
    if options == ["-scans"]:
        (tmp_path / "scans.txt").write_text(SPECTRAL_SCANS)
        options = ["-scans", str(tmp_path / "scans.txt")]
    huffman_jpeg = tmp_path / "huffman.jpg"
    tool("cjpeg", ["-quality", "90", *options, "-outfile", str(huffman_jpeg), str(pgm)])
    arithmetic_jpeg = tmp_path / "arithmetic.jpg"
    tool("jpegtran", ["-arithmetic", "-outfile", str(arithmetic_jpeg), str(huffman_jpeg)])
    huffman_stream = huffman_jpeg.read_bytes()
    if not options:
        huffman_stream = as_extended(huffman_stream)  # cjpeg writes baseline (SOF0)
    twin = tmp_path / "twin.dcm"
    twin.write_bytes(jpeg_file(331, GREY8, [huffman_stream], huffman_uid))
    reference = _dcmdjpeg(tool, twin)
    arithmetic = arithmetic_jpeg.read_bytes()
    for uid, stream in (
        (arithmetic_uid, arithmetic),
        (hierarchical_uid, as_hierarchical(arithmetic)),
    ):
        path = tmp_path / f"{uid}.dcm"
        path.write_bytes(jpeg_file(332, GREY8, [stream], uid))
        # Then we decode the arithmetic file, flat or hierarchical, as DCMTK decodes its twin
        _lossy_agree(_ours(path), reference)


# --------------------------------------------------------------- 6. non-standard scan header


@pytest.mark.parametrize(("ss", "se"), [(0, 0), (1, 63), (1, 0)])
def test_a_12_bit_sequential_scan_with_odd_spectral_selection_agrees_with_dcmtk(
    tool: Tool, tmp_path: Path, ss: int, se: int
) -> None:
    # Given a 12-bit JPEG Extended file whose scan header has Ss/Se other than 0/63
    source = _dcmcjpeg(tool, tmp_path, 12, "+ee")
    data = bytearray(source.read_bytes())
    sos = data.index(b"\xff\xda", data.index(b"\xe0\x7f\x10\x00"))
    fields = sos + 5 + 2 * data[sos + 4]
    data[fields : fields + 2] = bytes([ss, se])
    path = tmp_path / "odd-scan.dcm"
    path.write_bytes(bytes(data))
    # Then DCMTK warns and decodes it, and so do we, to the same values
    _lossy_agree(_ours(path), _dcmdjpeg(tool, path))


@pytest.mark.parametrize(("se", "approximation"), [(63, 0), (1, 0x10)])
def test_a_lossless_scan_with_odd_fields_agrees_with_dcmtk_on_its_twin(
    tool: Tool, tmp_path: Path, se: int, approximation: int
) -> None:
    # Given a JPEG Lossless file whose scan header has Se != 0 or Ah != 0 (DCMTK refuses
    # it: "Invalid lossless parameters"), and the undamaged file
    twin = _dcmcjpeg(tool, tmp_path, 12, "+el")
    data = bytearray(twin.read_bytes())
    sos = data.index(b"\xff\xda", data.index(b"\xe0\x7f\x10\x00"))
    fields = sos + 5 + 2 * data[sos + 4]
    data[fields + 1 : fields + 3] = bytes([se, approximation])
    path = tmp_path / "odd-lossless-scan.dcm"
    path.write_bytes(bytes(data))
    # Then we decode it exactly as DCMTK decodes the undamaged twin
    assert np.array_equal(_ours(path), _dcmdjpeg(tool, twin))


# --------------------------------------------------------------- 7. no sequence delimiter


def test_jpeg_lossless_without_delimiter_agrees_with_gdcm(tool: Tool, tmp_path: Path) -> None:
    # Given a JPEG Lossless file whose sequence delimiter is missing
    lossless = _dcmcjpeg(tool, tmp_path, 12, "+el")
    path = tmp_path / "no-delimiter.dcm"
    path.write_bytes(without_sequence_delimiter(lossless.read_bytes()))
    # Then GDCM decodes it, and our values equal its values
    raw = tmp_path / "gdcm-raw.dcm"
    tool("gdcmconv", ["--raw", str(path), str(raw)])
    assert np.array_equal(_ours(path), _stored(raw))


def test_multi_frame_rle_without_delimiter_agrees_with_gdcm_on_its_twin(
    tool: Tool, tmp_path: Path
) -> None:
    # Given a three-frame RLE file whose sequence delimiter is missing (GDCM 3.0 refuses
    # it once it has more than one frame: it warns that the last fragment "could be
    # corrupted" and stops), and the same file with its delimiter
    frames = np.stack([GREY12 // 2 + 300 * k for k in range(3)]).astype(np.uint16)
    whole = tmp_path / "rle.dcm"
    whole.write_bytes(rle_bytes(321, frames, bits_stored=12))
    path = tmp_path / "rle-no-delimiter.dcm"
    path.write_bytes(without_sequence_delimiter(whole.read_bytes()))
    raw = tmp_path / "gdcm-raw.dcm"
    tool("gdcmconv", ["--raw", str(whole), str(raw)])
    reference = _stored(raw)
    # Then every frame equals GDCM's frame of the delimited file
    for k in range(3):
        image = read_image(path, limits=LIMITS, frame=k)
        assert np.array_equal(image.pixels, reference[k])


# --------------------------------------------------------------- 8. big endian UN sequence


@pytest.mark.parametrize("nested", [False, True], ids=["top-level", "inside-a-sequence"])
def test_a_big_endian_un_sequence_file_agrees_with_dcmtk(
    tool: Tool, tmp_path: Path, nested: bool
) -> None:
    # Given an explicit big endian file with an undefined-length UN sequence
    path = tmp_path / "be-un.dcm"
    path.write_bytes(big_endian_with_un_sequence(322, GREY12, nested=nested))
    # Then DCMTK reads it (as PS3.5 6.2.2 says) and our values equal its values
    little = tmp_path / "dcmconv-le.dcm"
    tool("dcmconv", ["+te", str(path), str(little)])
    assert np.array_equal(_ours(path), _stored(little))


# --------------------------------------------------------------- 9. ACR-NEMA packed 12-bit


def test_acr_nema_packed_12_bit_agrees_with_dcmtk(tool: Tool, tmp_path: Path) -> None:
    # Given an ACR-NEMA file: packed 12-bit, no Photometric Interpretation
    values = GREY12.copy()
    values[0, :8] = [0, 1, 2, 4095, 4094, 2048, 15, 16]
    path = tmp_path / "acr-nema.dcm"
    path.write_bytes(acr_nema(values))
    # Then DCMTK (accepting ACR-NEMA, no VOI, 16-bit output: values << 4) agrees exactly
    png = tmp_path / "dcmtk.png"
    tool("dcmj2pnm", ["+Ma", "-W", "+on2", str(path), str(png)])
    with Image.open(png) as img:
        reference = np.asarray(img).astype(np.uint32) >> 4
    assert np.array_equal(_ours(path), reference)
    assert np.array_equal(_ours(path), values)


# --------------------------------------------------------------- 10. lost pixel data


def test_an_image_whose_pixel_data_was_lost_is_refused_like_dcmtk_refuses_it(
    require_tool: Callable[[str], str], tmp_path: Path
) -> None:
    # Given an image whose damaged private sequence swallowed its pixel data
    path = tmp_path / "lost.dcm"
    path.write_bytes(lost_pixel_data(323, GREY12))
    # Then DCMTK cannot render it, and we refuse it with INVALID_DICOM, naming the tag
    dcmtk = subprocess.run(
        [require_tool("dcmj2pnm"), str(path), str(tmp_path / "lost.pgm")],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert dcmtk.returncode != 0
    with pytest.raises(DicomlensError) as caught:
        read_image(path, limits=LIMITS)
    assert caught.value.code == ErrorCode.INVALID_DICOM
    assert "(0029,1010)" in caught.value.message
