"""A compressed frame whose own header claims a huge image is refused before it is decoded.

A decoder allocates what the codestream's header declares, not what Rows and Columns
say: a 64x64 file whose JPEG header claims 20000x20000 once took a worker to 2 GB. Every
frame's header (JPEG SOFn, JPEG-LS SOF55, JPEG 2000 / HTJ2K SIZ, RLE segment count) is
checked against the dataset first, and one plugin decodes a frame: a failure is final.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from corpus.generate import SECONDARY_CAPTURE, grey_dataset, new_dataset, ramp, to_bytes
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging import pixel_codecs
from dicomlens.imaging.codestream_header import BufferBytes, read_j2k_header, read_jpeg_header
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.limits import ImagingLimits

LIMITS = ImagingLimits()
GREY = ramp(64, 64, 0, 255).astype(np.uint8)
RGB = np.stack([GREY, GREY[::-1], GREY[:, ::-1]], axis=-1)
RSS_BOUND_MB = 300
HUGE = (20000, 20000)
HUGEST = (65535, 65535)

# ------------------------------------------------------------------ codestream builders


def _pillow_jpeg(arr: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _sof_offset(codestream: bytes, markers: tuple[int, ...]) -> int:
    position = 2
    while codestream[position + 1] not in markers:
        position += 2 + int.from_bytes(codestream[position + 2 : position + 4], "big")
    return position


def _jpeg_claiming(codestream: bytes, rows: int, columns: int, *, marker: int = 0xC0) -> bytes:
    """``codestream`` whose frame header is relabelled ``marker`` and claims rows x columns."""
    data = bytearray(codestream)
    at = _sof_offset(codestream, (0xC0, 0xC1, 0xC2, 0xC3, 0xF7))
    data[at + 1] = marker
    data[at + 5 : at + 9] = struct.pack(">HH", rows, columns)
    return bytes(data)


def _jpeg_ls(rows: int, columns: int, components: int) -> bytes:
    """A JPEG-LS codestream (ISO 14495-1): SOI, SOF55, one scan of zeros, EOI."""
    ids = range(1, components + 1)
    sof = struct.pack(">BHHB", 8, rows, columns, components) + b"".join(
        bytes([c, 0x11, 0]) for c in ids
    )
    sos = bytes([components, *(b for c in ids for b in (c, 0)), 0, 2 if components > 1 else 0, 0])
    return (
        b"\xff\xd8"
        + b"\xff\xf7"
        + struct.pack(">H", 2 + len(sof))
        + sof
        + b"\xff\xda"
        + struct.pack(">H", 2 + len(sos))
        + sos
        + bytes(64)
        + b"\xff\xd9"
    )


def _j2k(arr: np.ndarray) -> bytes:
    """A lossless JPEG 2000 codestream of ``arr`` (64x64 grey or RGB) from the installed encoder."""
    ds = _dataset(arr)
    ds.PixelData = arr.tobytes()
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg", use_mct=False)
    return next(generate_frames(ds.PixelData, number_of_frames=1))


def _j2k_claiming(codestream: bytes, rows: int, columns: int, *, high_throughput: bool) -> bytes:
    """``codestream`` whose SIZ claims rows x columns (and HTJ2K capabilities in Rsiz)."""
    data = bytearray(codestream)
    if high_throughput:
        data[6:8] = struct.pack(">H", int.from_bytes(data[6:8], "big") | 0x4000)
    data[8:16] = struct.pack(">II", columns, rows)  # Xsiz, Ysiz (XOsiz = YOsiz = 0)
    return bytes(data)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _jp2(codestream: bytes, rows: int, columns: int, components: int) -> bytes:
    """``codestream`` wrapped as a JP2 file (ISO 15444-1 Annex I)."""
    ihdr = _box(b"ihdr", struct.pack(">IIHBBBB", rows, columns, components, 7, 7, 0, 0))
    colr = _box(b"colr", bytes([1, 0, 0]) + struct.pack(">I", 16 if components == 3 else 17))
    return (
        b"\x00\x00\x00\x0cjP  \r\n\x87\n"
        + _box(b"ftyp", b"jp2 " + bytes(4) + b"jp2 ")
        + _box(b"jp2h", ihdr + colr)
        + _box(b"jp2c", codestream)
    )


def _rle_frame_with_segments(count: int) -> bytes:
    """A 64x64 8-bit grey RLE frame whose header declares ``count`` segments."""
    ds = grey_dataset(900, GREY, bits_stored=8)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    offsets = [64 + 16 * k for k in range(count)]
    frame[:64] = struct.pack("<16I", count, *offsets, *[0] * (15 - count))
    return bytes(frame)


# --------------------------------------------------------------------- file builders


def _dataset(arr: np.ndarray) -> Dataset:
    ds = new_dataset(SECONDARY_CAPTURE, 901, "OT")
    ds.Rows, ds.Columns = arr.shape[:2]
    colour = arr.ndim == 3
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
    if colour:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    return ds


def _file(arr: np.ndarray, codestreams: list[bytes], syntax: UID) -> bytes:
    ds = _dataset(arr)
    if arr.ndim == 3 and syntax in (JPEGBaseline8Bit,):
        ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate(codestreams)
    ds["PixelData"].VR = "OB"
    if len(codestreams) > 1:
        ds.NumberOfFrames = len(codestreams)
    return to_bytes(ds, syntax=syntax)


def _jpeg_bomb(arr: np.ndarray, size: tuple[int, int], marker: int, syntax: UID) -> bytes:
    return _file(arr, [_jpeg_claiming(_pillow_jpeg(arr), *size, marker=marker)], syntax)


def _jpeg_ls_bomb(arr: np.ndarray, size: tuple[int, int]) -> bytes:
    components = 3 if arr.ndim == 3 else 1
    return _file(arr, [_jpeg_ls(*size, components)], JPEGLSLossless)


def _j2k_bomb(arr: np.ndarray, size: tuple[int, int], syntax: UID, *, jp2: bool = False) -> bytes:
    high_throughput = syntax in (HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K)
    codestream = _j2k_claiming(_j2k(arr), *size, high_throughput=high_throughput)
    if jp2:
        codestream = _jp2(codestream, *size, 3 if arr.ndim == 3 else 1)
    return _file(arr, [codestream], syntax)


BOMBS: dict[str, Callable[[], bytes]] = {
    "jpeg-baseline-20000": lambda: _jpeg_bomb(GREY, HUGE, 0xC0, JPEGBaseline8Bit),
    "jpeg-baseline-65535-rgb": lambda: _jpeg_bomb(RGB, HUGEST, 0xC0, JPEGBaseline8Bit),
    "jpeg-lossless-20000": lambda: _jpeg_bomb(GREY, HUGE, 0xC3, JPEGLosslessSV1),
    "jpeg-lossless-65535-rgb": lambda: _jpeg_bomb(RGB, HUGEST, 0xC3, JPEGLosslessSV1),
    "jpeg-ls-20000": lambda: _jpeg_ls_bomb(GREY, HUGE),
    "jpeg-ls-65535-rgb": lambda: _jpeg_ls_bomb(RGB, HUGEST),
    "j2k-20000": lambda: _j2k_bomb(GREY, HUGE, JPEG2000Lossless),
    "j2k-65535-rgb": lambda: _j2k_bomb(RGB, HUGEST, JPEG2000),
    "j2k-jp2-wrapped-20000": lambda: _j2k_bomb(GREY, HUGE, JPEG2000Lossless, jp2=True),
    "htj2k-20000": lambda: _j2k_bomb(GREY, HUGE, HTJ2KLossless),
    "htj2k-rpcl-65535-rgb": lambda: _j2k_bomb(RGB, HUGEST, HTJ2KLosslessRPCL),
    "htj2k-lossy-20000": lambda: _j2k_bomb(GREY, HUGE, HTJ2K),
    "rle-wrong-segment-count": lambda: _file(GREY, [_rle_frame_with_segments(3)], RLELossless),
}


def _multiframe_with_bomb_at_frame_3() -> bytes:
    frames = [_pillow_jpeg(GREY) for _ in range(5)]
    frames[2] = _jpeg_claiming(frames[2], *HUGE)
    return _file(GREY, frames, JPEGBaseline8Bit)


def _read(tmp_path: Path, data: bytes, frame: int | None = None) -> Any:
    path = tmp_path / "case.dcm"
    path.write_bytes(data)
    return read_image(path, limits=LIMITS, frame=frame)


# ------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_frame_header_claiming_more_than_the_dataset_is_invalid(
    tmp_path: Path, name: str
) -> None:
    # Given a 64x64 file whose codestream header claims a huge image (or wrong segments)
    data = BOMBS[name]()
    # When it is read through the entry point processing uses
    with pytest.raises(DicomlensError) as caught:
        _read(tmp_path, data)
    # Then it is INVALID_DICOM, naming the frame and the header, before any decoding
    assert caught.value.code == ErrorCode.INVALID_DICOM
    assert "frame 1" in caught.value.message
    assert any(word in caught.value.message for word in ("SOF", "SIZ", "RLE"))


def test_a_bomb_in_frame_3_only_is_refused_whichever_frame_is_asked_for(tmp_path: Path) -> None:
    # Given five JPEG frames of which the third claims 20000x20000
    data = _multiframe_with_bomb_at_frame_3()
    for frame in (0, None, 4):
        # When any frame is read
        with pytest.raises(DicomlensError) as caught:
            _read(tmp_path, data, frame)
        # Then the file is refused, naming frame 3
        assert caught.value.code == ErrorCode.INVALID_DICOM
        assert "frame 3's SOF0 header declares 20000x20000" in caught.value.message


def test_the_same_files_with_honest_headers_decode(tmp_path: Path) -> None:
    # Given each kind of codestream with the header its encoder wrote (JP2-wrapped too)
    honest = {
        "jpeg": _file(GREY, [_pillow_jpeg(GREY)], JPEGBaseline8Bit),
        "jpeg-multiframe": _file(GREY, [_pillow_jpeg(GREY)] * 3, JPEGBaseline8Bit),
        "j2k": _file(GREY, [_j2k(GREY)], JPEG2000Lossless),
        "j2k-rgb": _file(RGB, [_j2k(RGB)], JPEG2000Lossless),
        "jp2": _file(GREY, [_jp2(_j2k(GREY), 64, 64, 1)], JPEG2000Lossless),
        "rle": _file(GREY, [_rle_frame_with_segments(1)[:64] + _rle_body()], RLELossless),
    }
    for name, data in honest.items():
        # When it is read
        image = _read(tmp_path, data)
        # Then it decodes to the right shape (the lossless ones to the very values)
        assert image.pixels is not None, name
        assert image.pixels.shape[:2] == (64, 64), name
        if name in ("j2k", "jp2", "rle"):
            np.testing.assert_array_equal(image.pixels, GREY, err_msg=name)


def _rle_body() -> bytes:
    ds = grey_dataset(902, GREY, bits_stored=8)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    return next(generate_frames(ds.PixelData, number_of_frames=1))[64:]


def test_a_height_left_to_a_dnl_segment_is_read_from_it() -> None:
    # Given a baseline codestream whose frame header declares 0 lines (ISO 10918-1 B.2.5)
    codestream = _jpeg_claiming(_pillow_jpeg(GREY), 0, 64)
    end = codestream.rindex(b"\xff\xd9")
    with_dnl = codestream[:end] + b"\xff\xdc\x00\x04" + struct.pack(">H", 20000) + b"\xff\xd9"
    # When its header is read
    header = read_jpeg_header(BufferBytes(with_dnl))
    # Then the DNL segment's number of lines is the height; without one it is invalid
    assert (header.rows, header.columns, header.samples) == (20000, 64, 1)
    with pytest.raises(DicomlensError) as caught:
        read_jpeg_header(BufferBytes(codestream))
    assert caught.value.code == ErrorCode.INVALID_DICOM
    assert "DNL" in caught.value.message


def test_a_dnl_height_beyond_rows_is_invalid(tmp_path: Path) -> None:
    # Given a file whose codestream leaves its height to a DNL segment claiming 20000 lines
    codestream = _jpeg_claiming(_pillow_jpeg(GREY), 0, 64)
    end = codestream.rindex(b"\xff\xd9")
    bomb = codestream[:end] + b"\xff\xdc\x00\x04" + struct.pack(">H", 20000) + b"\xff\xd9"
    # When it is read
    with pytest.raises(DicomlensError) as caught:
        _read(tmp_path, _file(GREY, [bomb], JPEGBaseline8Bit))
    # Then it is invalid
    assert caught.value.code == ErrorCode.INVALID_DICOM
    assert "20000x64" in caught.value.message


def test_a_jp2_header_is_found_in_its_codestream_box() -> None:
    # Given a JP2 file around a codestream of 64x64
    jp2 = _jp2(_j2k(RGB), 64, 64, 3)
    # When its header is read
    header = read_j2k_header(BufferBytes(jp2))
    # Then the SIZ of the jp2c box is what counts
    assert (header.rows, header.columns, header.samples, header.precision) == (64, 64, 3, 8)


def test_a_frame_the_chosen_plugin_refuses_is_not_tried_with_every_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a baseline codestream with a valid frame header but no scan
    codestream = _pillow_jpeg(GREY)
    broken = codestream[: _sof_offset(codestream, (0xC0,)) + 2 + 11] + b"\xff\xd9"
    plugins: list[str] = []
    real = pixel_codecs.pixel_array

    def recording(*args: Any, **kwargs: Any) -> Any:
        plugins.append(kwargs.get("decoding_plugin", ""))
        return real(*args, **kwargs)

    monkeypatch.setattr(pixel_codecs, "pixel_array", recording)
    # When it is read
    with pytest.raises(DicomlensError) as caught:
        _read(tmp_path, _file(GREY, [broken], JPEGBaseline8Bit))
    # Then it is INVALID_DICOM after Pillow alone was asked (never "every plugin")
    assert caught.value.code == ErrorCode.INVALID_DICOM
    assert plugins
    assert set(plugins) == {"pillow"}


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from dicomlens.domain.errors import DicomlensError
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.limits import ImagingLimits

results = {}
for name in sys.argv[1:]:
    start = time.perf_counter()
    try:
        read_image(Path(name), limits=ImagingLimits())
        code = "COMPLETED"
    except DicomlensError as exc:
        code = str(exc.code)
    results[Path(name).stem] = [code, time.perf_counter() - start]
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"results": results, "peak_mb": peak_kb / 1024}))
"""


def test_every_bomb_ends_quickly_with_a_bounded_peak_rss(tmp_path: Path) -> None:
    # Given every bomb, and the multi-frame file with a bomb in frame 3, as files
    paths = []
    for name, build in {**BOMBS, "multiframe-frame-3": _multiframe_with_bomb_at_frame_3}.items():
        path = tmp_path / f"{name}.dcm"
        path.write_bytes(build())
        paths.append(str(path))
    # When a fresh process reads them all through the processing entry point
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *paths],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # Then each is INVALID_DICOM within seconds, and the process never grew past the bound
    for name, (code, seconds) in report["results"].items():
        assert code == "INVALID_DICOM", name
        assert seconds < 5, name
    assert report["peak_mb"] < RSS_BOUND_MB


def test_a_parsed_dataset_is_checked_the_same_way() -> None:
    # Given parsed datasets (as de-identification holds them): a bomb, and an honest file
    from pydicom import dcmread

    from dicomlens.imaging.codestream_check import check_dataset_codestreams

    bomb = dcmread(io.BytesIO(BOMBS["j2k-65535-rgb"]()))
    honest = dcmread(io.BytesIO(_file(GREY, [_j2k(GREY)], JPEG2000Lossless)))
    # When their frames are checked
    with pytest.raises(DicomlensError) as caught:
        check_dataset_codestreams(bomb, bomb.file_meta.TransferSyntaxUID, LIMITS)
    # Then the bomb is INVALID_DICOM; the honest file passes, or is TOO_LARGE under a
    # limit smaller than its frame
    assert caught.value.code == ErrorCode.INVALID_DICOM
    check_dataset_codestreams(honest, honest.file_meta.TransferSyntaxUID, LIMITS)
    with pytest.raises(DicomlensError) as small:
        check_dataset_codestreams(
            honest, honest.file_meta.TransferSyntaxUID, ImagingLimits(max_frame_samples=1000)
        )
    assert small.value.code == ErrorCode.TOO_LARGE
