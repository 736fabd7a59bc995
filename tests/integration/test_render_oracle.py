"""Our full-size rendering of every decodable corpus file agrees with an independent tool.

The rule: DCMTK (``dcmj2pnm``, or ``dcml2pnm`` for JPEG-LS) renders the same frame with the
same VOI choice, overlays off, and at least 99.9 % of the pixels are within one grey level.
Each file that DCMTK cannot be the oracle for is listed below with the reason and the
independent oracle used instead. The tools run once per file and session.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from corpus import GENERATED, expected_outcomes, real_files
from dicomlens.domain.errors import DicomlensError
from dicomlens.imaging.decode import DecodedImage, read_image
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.render import Rendered, render

AGREEMENT = 0.999  # share of pixels within one grey level

JPEG_2000 = {
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
}
JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}

BROKEN = {
    name: outcome
    for name, outcome in expected_outcomes().items()
    if outcome not in ("image", "no-image")
}
NO_IMAGE = {name for name, outcome in expected_outcomes().items() if outcome == "no-image"}

# ---- exceptions to the DCMTK rule, each with the independent oracle used instead --------

# 12-bit lossy JPEG: ISO 10918-2 allows IDCT implementations to differ by one stored value,
# and libjpeg-turbo (ours) and DCMTK's IJG 12-bit code do. Oracle: DCMTK `dcmdjpeg`, stored
# values within +-1.
# JPEG-lossy.dcm also has a scan header with Se != 63, which DCMTK tolerates and we repair.
LOSSY_12_BIT = {"JPGExtended.dcm", "JPEG-lossy.dcm"}
# Uncompressed YBR_FULL: DCMTK converts with truncation and offsets derived from the
# maximum value, up to 2 levels off PS3.3 C.7.6.3.1.2. Oracles: the standard's equations
# applied here with numpy to the stored bytes (exact after rounding), and DCMTK within 2.
YBR_FULL_EQUATIONS = {"SC_ybr_full_uncompressed.dcm"}
# 32-bit big-endian grayscale: DCMTK mis-decodes it, and GDCM `gdcmconv --raw` swaps it
# as 16-bit words (also wrong). Oracle: the little-endian twin, whose stored values (exact)
# and rendering (exact) the DCMTK rule checks.
BIG_ENDIAN_32_TWINS = {
    "rtdose_expb.dcm": "rtdose.dcm",
    "rtdose_expb_1frame.dcm": "rtdose_1frame.dcm",
}
# 32-bit RGB: DCMTK rejects OW pixel data with more than 16 bits per sample.
# Oracle: GDCM `gdcmconv --raw` stored values (exact) ...
RGB_32_BIT = {"SC_rgb_32bit.dcm", "SC_rgb_expb_32bit.dcm"}
# ... except for two frames, which GDCM cannot read either. Oracle: the Pixel Data element's
# bytes as read by pydicom, reshaped here with numpy in the file's byte order (exact).
RGB_32_BIT_NUMPY = {"SC_rgb_32bit_2frame.dcm", "SC_rgb_expb_32bit_2frame.dcm"}
# A dataset written in implicit VR under an explicit transfer syntax: DCMTK cannot parse
# it. Oracle: GDCM `gdcmconv --raw` decoded values (exact).
GDCM_DECODES = {"SC_rgb_jpeg.dcm"}
# Segmented palettes: DCMTK does not support them. Oracle: GDCM `gdcmconv --apply-lut`
# (16-bit RGB; we keep the top 8 bits, as for any 16-bit palette).
SEGMENTED_PALETTE_GDCM = {"gdcm-US-ALOKA-16.dcm", "gdcm-US-ALOKA-16_big.dcm"}
# Our generated segmented palette: GDCM does not apply LUTs to 8-bit indices either way
# we tried, so the oracle is the palette it was written from (tests/corpus/generate.py).
SEGMENTED_PALETTE_KNOWN = {"gen_palette_segmented.dcm"}
# Window from the enhanced CT functional groups (PS3.3 C.7.6.16.2.10), which DCMTK does not
# read. Oracle: DCMTK with that window given explicitly (`+Ww c w`); a unit test checks
# that the functional-group values are the ones used.
FUNCTIONAL_GROUP_WINDOW = {"eCT_Supplemental.dcm"}
# Starts with "DICM" but has no preamble: DCMTK requires the preamble. Oracle: the same
# dataset written without the prefix (rendering identical).
# JPEG 2000 fragments without the sequence delimiter: GDCM warns, then its J2K codec fails
# ("Not handled"), DCMTK has no J2K decoder. Oracle: the same frames in the delimited file.
TWINS = {
    "gen_dicm_no_preamble.dcm": "gen_no_preamble.dcm",
    "emri_small_jpeg_2k_lossless_too_short.dcm": "emri_small_jpeg_2k_lossless.dcm",
}
# JPEG 2000: DCMTK has no decoder. Oracle: GDCM `gdcmconv --raw` stored values (exact).
# PNG: decode_png() below, written from the PNG specification with zlib (exact; 16 bit
# scaled to 8 here). JPEG: DCMTK after `img2dcm` wraps
# the JPEG unchanged in a DICOM file (the DCMTK rule).


def _cases() -> list[str]:
    names = [path.name for path in real_files()]
    names += [case.name for case in GENERATED]
    return sorted(names)


class ToolRunner:
    """Runs an external tool once per (command, input) and keeps the output file."""

    def __init__(self, folder: Path, require_tool: Callable[[str], str]) -> None:
        self._folder = folder
        self._require = require_tool
        self._done: dict[tuple[str, ...], Path] = {}

    def run(self, tool: str, args: list[str], source: Path, suffix: str) -> Path:
        key = (tool, *args, str(source))
        if key not in self._done:
            executable = self._require(tool)
            out = self._folder / f"{len(self._done)}-{source.name}{suffix}"
            result = subprocess.run(
                [executable, *args, str(source), str(out)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, f"{tool} {args} failed: {result.stderr[-500:]}"
            self._done[key] = out
        return self._done[key]


@pytest.fixture(scope="session")
def tools(
    tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]
) -> ToolRunner:
    return ToolRunner(tmp_path_factory.mktemp("oracle-outputs"), require_tool)


def _agree(ours: np.ndarray, reference: np.ndarray, name: str, *, tolerance: int = 1) -> float:
    assert ours.shape == reference.shape, f"{name}: shape {ours.shape} != {reference.shape}"
    difference = np.abs(ours.astype(np.int64) - reference.astype(np.int64))
    share = float((difference <= tolerance).mean()) if difference.size else 1.0
    assert share >= AGREEMENT, (
        f"{name}: {share:.4%} of pixels within {tolerance} (max difference {difference.max()})"
    )
    return share


def _read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def _dcmtk_flags(rendered: Rendered, image: DecodedImage) -> list[str]:
    window = rendered.window
    ds = image.dataset
    padded = ds is not None and "PixelPaddingValue" in ds
    if window.source == "file-window":
        return ["+Wi", "1"]
    if window.source == "file-voi-lut":
        return ["+Wl", "1"]
    if window.source == "automatic" and not padded:
        return ["+Wn"]
    if window.source in ("automatic", "preset"):
        # Padding is left out of our automatic window and DCMTK has no such mode: check
        # the window's application with the same centre and width.
        return ["+Ww", f"{window.center:.6f}", f"{window.width:.6f}"]
    if window.source == "min-max":
        return ["+Wm"]
    return []


def _frame_flags(image: DecodedImage) -> list[str]:
    return ["+F", str((image.frame_index or 0) + 1)]


def _stored(path: Path, frame: int | None) -> np.ndarray:
    """Stored values of ``frame`` of a file with native pixel data, through pydicom."""
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return np.asarray(arr[frame or 0] if frames > 1 else arr)


@pytest.mark.parametrize("name", _cases())
def test_rendering_agrees_with_an_independent_decoder(
    name: str,
    corpus_paths: dict[str, Path],
    tools: ToolRunner,
    record_property: Callable[[str, object], None],
) -> None:
    # Given a corpus file
    path = corpus_paths[name]
    # When we read it
    if name in BROKEN:
        with pytest.raises(DicomlensError) as caught:
            read_image(path, limits=ImagingLimits())
        # Then a broken file fails with its stable code
        assert caught.value.code == BROKEN[name]
        record_property("oracle", "error-code")
        return
    image = read_image(path, limits=ImagingLimits())
    if name in NO_IMAGE:
        assert not image.has_image
        record_property("oracle", "no-image")
        return
    assert image.has_image, f"{name} has pixel data but nothing was decoded"
    rendered = render(image)
    ours = rendered.pixels
    # Then the picture agrees with the oracle for this kind of file
    ds = image.dataset
    if ds is None:
        record_property("oracle", f"{image.kind}-decoder")
        record_property("agreement", _check_raster(name, path, image, ours, tools))
        return
    tsyntax = str(ds.file_meta.get("TransferSyntaxUID", "")) if "file_meta" in dir(ds) else ""
    frame = image.frame_index
    jpeg_2000 = tsyntax in JPEG_2000 and name not in TWINS
    if jpeg_2000 or name in RGB_32_BIT or name in GDCM_DECODES:
        raw = tools.run("gdcmconv", ["--raw"], path, ".dcm")
        reference = _stored(raw, frame)
        assert image.pixels is not None
        assert np.array_equal(image.pixels, reference.astype(image.pixels.dtype)), (
            f"{name}: decoded values differ from GDCM's"
        )
        record_property("oracle", "gdcm-raw-exact")
        return
    if name in BIG_ENDIAN_32_TWINS:
        twin = read_image(corpus_paths[BIG_ENDIAN_32_TWINS[name]], limits=ImagingLimits())
        assert np.array_equal(image.pixels, twin.pixels)
        assert np.array_equal(ours, render(twin).pixels)
        record_property("oracle", "little-endian-twin-exact")
        return
    if name in RGB_32_BIT_NUMPY:
        assert np.array_equal(image.pixels, _native_rgb(path, frame))
        record_property("oracle", "numpy-raw-exact")
        return
    if name in TWINS:
        twin = read_image(corpus_paths[TWINS[name]], limits=ImagingLimits())
        assert np.array_equal(ours, render(twin).pixels)
        record_property("oracle", "twin-exact")
        return
    if name in LOSSY_12_BIT:
        decompressed = tools.run("dcmdjpeg", [], path, ".dcm")
        share = _agree(image.pixels, _stored(decompressed, frame), name)  # type: ignore[arg-type]
        record_property("oracle", "dcmdjpeg-stored-within-1")
        record_property("agreement", share)
        return
    if name in SEGMENTED_PALETTE_GDCM:
        applied = tools.run("gdcmconv", ["--apply-lut"], path, ".dcm")
        reference = _stored(applied, frame)
        assert np.array_equal(ours, (reference >> 8).astype(np.uint8))
        record_property("oracle", "gdcm-apply-lut-exact")
        return
    if name in SEGMENTED_PALETTE_KNOWN:
        _check_known_palette(image, ours)
        record_property("oracle", "known-palette-exact")
        return
    if name in YBR_FULL_EQUATIONS:
        _check_ybr_full(path, ours, frame)
        dcmtk = tools.run("dcmj2pnm", ["-O", "+on", *_frame_flags(image)], path, ".png")
        record_property("oracle", "ybr-equations+dcmtk-within-2")
        record_property("agreement", _agree(ours, _read_png(dcmtk), name, tolerance=2))
        return
    if name in FUNCTIONAL_GROUP_WINDOW:
        window = rendered.window
        assert window.source == "file-window"
        flags = ["+Ww", f"{window.center:.6f}", f"{window.width:.6f}"]
    else:
        flags = _dcmtk_flags(rendered, image)
    tool = "dcml2pnm" if tsyntax in JPEG_LS else "dcmj2pnm"
    dcmtk = tools.run(tool, ["-O", "+on", *_frame_flags(image), *flags], path, ".png")
    record_property("oracle", f"{tool} {' '.join(flags)}".strip())
    record_property("agreement", _agree(ours, _read_png(dcmtk), name))


def _check_raster(
    name: str, path: Path, image: DecodedImage, ours: np.ndarray, tools: ToolRunner
) -> float:
    if image.kind == "png":
        reference = decode_png(path.read_bytes())
        if reference.dtype == np.uint16:
            reference = np.rint(reference.astype(np.float64) / 257.0)
        return _agree(ours, reference, name)
    wrapped = tools.run("img2dcm", [], path, ".dcm")
    return _agree(ours, _read_png(tools.run("dcmj2pnm", ["+on"], wrapped, ".png")), name)


def _native_rgb(path: Path, frame: int | None) -> np.ndarray:
    ds = pydicom.dcmread(path)
    rows, columns, bits = int(ds.Rows), int(ds.Columns), int(ds.BitsAllocated)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    order = "<" if ds.original_encoding[1] else ">"
    values = np.frombuffer(ds.PixelData, dtype=f"{order}u{bits // 8}")
    values = values[: frames * rows * columns * 3]
    if int(ds.get("PlanarConfiguration", 0)) == 1:
        planes = values.reshape(frames, 3, rows, columns)
        return planes[frame or 0].transpose(1, 2, 0).astype(f"=u{bits // 8}")
    return values.reshape(frames, rows, columns, 3)[frame or 0].astype(f"=u{bits // 8}")


def decode_png(data: bytes) -> np.ndarray:
    """Non-interlaced grey or RGB PNG, 8 or 16 bit (PNG specification, sections 7-9).

    An independent decoder for the oracle: chunks, zlib, then the five row filters.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        payload = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = payload
        elif kind == b"IDAT":
            chunks += payload
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert colour in (0, 2) and depth in (8, 16) and interlace == 0
    channels = 3 if colour == 2 else 1
    step = channels * depth // 8  # bytes per pixel
    stride = width * step
    raw = zlib.decompress(chunks)
    rows = np.zeros((height, stride), dtype=np.int64)
    previous = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], np.frombuffer(raw, np.uint8, stride, start + 1).astype(np.int64)
        row = np.zeros(stride, dtype=np.int64)
        for x in range(stride):
            left = row[x - step] if x >= step else 0
            up = previous[x]
            up_left = previous[x - step] if x >= step else 0
            if kind == 0:
                predictor = 0
            elif kind == 1:
                predictor = left
            elif kind == 2:
                predictor = up
            elif kind == 3:
                predictor = (left + up) // 2
            else:
                estimate = left + up - up_left
                distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
                predictor = (left, up, up_left)[distances.index(min(distances))]
            row[x] = (line[x] + predictor) & 0xFF
        rows[y], previous = row, row
    samples = rows.astype(np.uint8).tobytes()
    dtype = np.dtype(">u2") if depth == 16 else np.dtype(np.uint8)
    arr = np.frombuffer(samples, dtype=dtype).astype(np.uint16 if depth == 16 else np.uint8)
    return arr.reshape((height, width, 3) if channels == 3 else (height, width))


def _check_known_palette(image: DecodedImage, ours: np.ndarray) -> None:
    from corpus.generate import PALETTE_BLUE, PALETTE_GREEN, PALETTE_RED

    assert image.pixels is not None
    indices = image.pixels.astype(np.intp)
    expected = np.stack(
        [(lut[indices] >> 8) for lut in (PALETTE_RED, PALETTE_GREEN, PALETTE_BLUE)], axis=-1
    )
    assert np.array_equal(ours, expected.astype(np.uint8))


def _check_ybr_full(path: Path, ours: np.ndarray, frame: int | None) -> None:
    """PS3.3 C.7.6.3.1.2 YBR_FULL -> RGB on the raw stored bytes, computed here."""
    ds = pydicom.dcmread(path)
    rows, columns = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    raw = np.frombuffer(ds.PixelData, dtype=np.uint8)[: rows * columns * 3 * frames]
    if int(ds.get("PlanarConfiguration", 0)) == 1:
        ybr = raw.reshape(frames, 3, rows, columns).transpose(0, 2, 3, 1)
    else:
        ybr = raw.reshape(frames, rows, columns, 3)
    y, cb, cr = (ybr[frame or 0, ..., k].astype(np.float64) for k in range(3))
    red = y + 1.402 * (cr - 128)
    green = y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)
    blue = y + 1.772 * (cb - 128)
    expected = np.clip(np.rint(np.stack([red, green, blue], axis=-1)), 0, 255)
    assert np.array_equal(ours, expected.astype(np.uint8)), "differs from PS3.3 C.7.6.3.1.2"
