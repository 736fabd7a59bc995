"""Read one image file under limits and decode only the frame that is needed.

DICOM (PS3.10, with or without preamble) is parsed without its pixel data first, so the
limits, the transfer syntax and the pixel-data length are checked before any pixel is
decoded; then only the representative (middle) frame is read from the file, so a 1 GB
multi-frame file never needs 1 GB of memory. PNG and JPEG go through Pillow with its
decompression-bomb guard left on.
"""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal

import numpy as np
import pydicom
from PIL import Image, ImageOps, UnidentifiedImageError
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import pixel_array
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.sniff import FileKind, sniff_bytes

_PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"SV",
    b"UV",
}
_UNDEFINED = 0xFFFFFFFF
_SMALL_FILE = 64 * 1024**2
_IJG_SYNTAXES = {UID("1.2.840.10008.1.2.4.50"), UID("1.2.840.10008.1.2.4.51")}
# Exceptions pydicom's parser raises on malformed input; anything else is a bug of ours.
_PARSE_ERRORS = (
    InvalidDicomError,
    BytesLengthException,
    OSError,  # pydicom's "No tag to read at file position ..."
    ValueError,
    EOFError,
    struct.error,
    KeyError,
    TypeError,
    IndexError,
    OverflowError,
    NotImplementedError,
    AttributeError,
    zlib.error,
)


@dataclass(frozen=True, kw_only=True)
class DecodedImage:
    """One file after reading: its metadata and, when it has an image, one decoded frame.

    ``pixels`` holds stored values (before any LUT) for grayscale and palette images, and
    RGB for colour images (YBR is converted to RGB during decoding); ``photometric`` names
    what ``pixels`` holds. ``dataset`` is None for PNG/JPEG.
    """

    kind: Literal["dicom", "png", "jpeg"]
    dataset: Dataset | None
    pixels: np.ndarray | None
    photometric: str | None
    frame_index: int | None
    frame_count: int
    decode_seconds: float = 0.0

    @property
    def has_image(self) -> bool:
        """Whether a frame was decoded (False for SR, RT plans, waveforms ...)."""
        return self.pixels is not None


@contextmanager
def _quiet() -> Iterator[None]:
    """pydicom and Pillow warn about non-conformant files; those warnings are not errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def read_image(path: Path, *, limits: ImagingLimits, frame: int | None = None) -> DecodedImage:
    """Read ``path`` and decode one frame (the middle one unless ``frame`` is given).

    Raises :class:`DicomlensError` with NOT_AN_IMAGE, INVALID_DICOM,
    UNSUPPORTED_TRANSFER_SYNTAX, TRUNCATED_PIXEL_DATA, TOO_LARGE or DECODE_TIMEOUT.
    """
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise DicomlensError(
            ErrorCode.TOO_LARGE,
            f"the file has {size} bytes; the limit is {limits.max_file_bytes}",
        )
    with path.open("rb") as f:
        kind = sniff_bytes(f.read(132))
    if kind in (FileKind.PNG, FileKind.JPEG):
        return _read_raster(path, kind, limits)
    if _is_deflated(path):
        return _read_deflated(path, limits, frame)
    return _read_dicom(path, kind, size, limits, frame)


# --------------------------------------------------------------------------- DICOM


def _read_dicom(
    path: Path, kind: FileKind, size: int, limits: ImagingLimits, frame: int | None
) -> DecodedImage:
    with path.open("rb") as raw, _quiet():
        # A file that keeps the "DICM" prefix but lost its preamble: pydicom looks for the
        # prefix at offset 128 only, so it reads a view that starts after the prefix.
        base = 4 if kind is FileKind.DICOM_NO_PREAMBLE and raw.read(4) == b"DICM" else 0
        raw.seek(base)
        f: BinaryIO = _OffsetView(raw, base) if base else raw  # type: ignore[assignment]
        ds = _parse(f, "header", stop_before_pixels=True, force=kind is FileKind.DICOM_NO_PREAMBLE)
        tsyntax = _transfer_syntax(ds)
        if tsyntax == DeflatedExplicitVRLittleEndian:
            return _read_deflated(path, limits, frame)
        implicit, little = ds.original_encoding
        pixel_header = _read_pixel_header(f, bool(implicit), bool(little), size - base)
        if pixel_header is not None:
            length, remaining, offset, tag = pixel_header
            pixel_header = (length, remaining, offset + base, tag)
    if pixel_header is None or "Rows" not in ds or "Columns" not in ds:
        return DecodedImage(
            kind="dicom",
            dataset=ds,
            pixels=None,
            photometric=None,
            frame_index=None,
            frame_count=0,
        )
    frames = _check_geometry(ds, limits)
    index = _frame_index(frames, frame)
    _check_codec(tsyntax)
    value_length, remaining, value_offset, pixel_tag = pixel_header
    if not tsyntax.is_compressed:
        _check_native_length(ds, frames, value_length, remaining)
    elif value_length != _UNDEFINED:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, "compressed pixel data must be encapsulated (undefined length)"
        )
    elif not _ends_with_sequence_delimiter(path, size):
        raise DicomlensError(
            ErrorCode.TRUNCATED_PIXEL_DATA,
            "the encapsulated pixel data ends before its sequence delimiter",
        )
    start = time.perf_counter()
    native = None
    if not tsyntax.is_compressed and pixel_tag == 0x7FE00010:
        native = _read_native_frame(path, ds, value_offset, index, little=bool(little))
    if native is None:
        try:
            with path.open("rb") as raw:
                raw.seek(base)
                view: BinaryIO = _OffsetView(raw, base) if base else raw  # type: ignore[assignment]
                native = _decode_frame(view, tsyntax, index)
        except DicomlensError:
            if size > _SMALL_FILE or base:
                raise
            # pydicom's file-based decoder assumes the declared VR encoding; its dataset
            # reader also copes with a dataset written in implicit VR under an explicit
            # syntax. Small files only: the whole file is read into memory.
            native = _decode_frame(_read_whole(path), tsyntax, index)
    elapsed = time.perf_counter() - start
    _check_deadline(elapsed, limits)
    return _decoded(ds, native, index, frames, elapsed)


class _OffsetView(io.RawIOBase):
    """A read-only view of ``raw`` in which offset ``base`` is position 0."""

    def __init__(self, raw: IO[bytes], base: int) -> None:
        super().__init__()
        self._raw = raw
        self._base = base

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self._raw.tell() - self._base

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            offset += self._base
        return self._raw.seek(offset, whence) - self._base


def _read_native_frame(
    path: Path, ds: Dataset, offset: int, index: int, *, little: bool
) -> np.ndarray | None:
    """Read one frame of native (uncompressed) integer pixel data straight from the file.

    Covers the common layouts (8/16/32-bit grayscale, 8/16-bit RGB, either planar
    configuration); returns None for the rest (1-bit, YBR, float), which pydicom decodes.
    Unused high bits are masked, and signed values sign-extended from Bits Stored, as
    PS3.5 8.1.1 requires.
    """
    bits = int(ds.BitsAllocated)
    samples = int(ds.get("SamplesPerPixel", 1))
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if bits not in (8, 16, 32) or (samples == 3 and photometric != "RGB") or samples not in (1, 3):
        return None
    if bits == 8 and not little:
        return None  # big-endian OW swaps the bytes of 8-bit data in pairs (PS3.5 A.3)
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    stored = int(ds.get("BitsStored", bits) or bits)
    rows, cols = int(ds.Rows), int(ds.Columns)
    dtype = np.dtype(f"{'<' if little else '>'}{'i' if signed else 'u'}{bits // 8}")
    count = rows * cols * samples
    arr = np.fromfile(
        path, dtype=dtype, count=count, offset=offset + index * count * dtype.itemsize
    )
    if arr.size != count:
        return None
    arr = arr.astype(dtype.newbyteorder("="), copy=False)
    if 0 < stored < bits:
        shift = bits - stored
        arr = (arr << shift) >> shift if signed else arr & ((1 << stored) - 1)
    if samples == 1:
        return arr.reshape(rows, cols)
    if int(ds.get("PlanarConfiguration", 0)) == 1:
        return np.ascontiguousarray(arr.reshape(3, rows, cols).transpose(1, 2, 0))
    return arr.reshape(rows, cols, 3)


def _decoded(ds: Dataset, arr: np.ndarray, index: int, frames: int, elapsed: float) -> DecodedImage:
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if int(ds.get("SamplesPerPixel", 1)) == 3 and photometric != "PALETTE COLOR":
        photometric = "RGB"  # pydicom converts YBR_* to RGB while decoding
    return DecodedImage(
        kind="dicom",
        dataset=ds,
        pixels=arr,
        photometric=photometric,
        frame_index=index,
        frame_count=frames,
        decode_seconds=elapsed,
    )


def _check_deadline(elapsed: float, limits: ImagingLimits) -> None:
    if elapsed > limits.decode_timeout_s:
        raise DicomlensError(
            ErrorCode.DECODE_TIMEOUT,
            f"decoding took {elapsed:.1f} s; the limit is {limits.decode_timeout_s:g} s",
        )


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    if not value:
        return ImplicitVRLittleEndian  # PS3.5 default when no file meta is present
    return UID(str(value).strip("\x00 "))


def _read_pixel_header(
    f: IO[bytes], implicit: bool, little: bool, size: int
) -> tuple[int, int, int, int] | None:
    """(value length, bytes left after the header, value offset, tag) of the pixel data.

    ``f`` is positioned where pydicom stopped before the pixel data. Returns None when the
    dataset has no pixel data element.
    """
    head = f.read(12)
    if len(head) < 8:
        return None
    endian = "<" if little else ">"
    group, element = struct.unpack(endian + "HH", head[:4])
    if (group << 16 | element) not in _PIXEL_TAGS:
        return None
    # A dataset may be written in implicit VR despite declaring explicit VR (pydicom reads
    # it with a warning): a VR is two upper-case letters, a 32-bit length almost never is.
    if implicit or not head[4:6].isalpha() or not head[4:6].isupper():
        (length,) = struct.unpack(endian + "I", head[4:8])
        header = 8
    elif head[4:6] in _LONG_VRS:
        if len(head) < 12:
            return None
        (length,) = struct.unpack(endian + "I", head[8:12])
        header = 12
    else:
        (length,) = struct.unpack(endian + "H", head[6:8])
        header = 8
    position = f.tell() - len(head) + header
    return length, size - position, position, group << 16 | element


def _int_attr(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    if value is None or value == "":
        if default is None:
            raise DicomlensError(ErrorCode.INVALID_DICOM, f"{keyword} is missing")
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise DicomlensError(ErrorCode.INVALID_DICOM, f"{keyword} is not an integer") from exc


def _check_geometry(ds: Dataset, limits: ImagingLimits) -> int:
    """Validate the image geometry against ``limits``; return the frame count."""
    rows = _int_attr(ds, "Rows")
    cols = _int_attr(ds, "Columns")
    samples = _int_attr(ds, "SamplesPerPixel", 1)
    frames = _int_attr(ds, "NumberOfFrames", 1) or 1
    bits = _int_attr(ds, "BitsAllocated", 0)
    if rows <= 0 or cols <= 0 or samples not in (1, 3) or frames < 0:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM,
            f"impossible image geometry: {rows}x{cols}, {samples} samples, {frames} frames",
        )
    if bits not in (1, 8, 16, 32, 64):
        raise DicomlensError(ErrorCode.INVALID_DICOM, f"BitsAllocated {bits} is not supported")
    frame_samples = rows * cols * samples
    if frame_samples > limits.max_frame_samples:
        raise DicomlensError(
            ErrorCode.TOO_LARGE,
            f"a frame of {rows}x{cols}x{samples} exceeds the limit of "
            f"{limits.max_frame_samples} samples",
        )
    if frame_samples * frames > limits.max_total_samples:
        raise DicomlensError(
            ErrorCode.TOO_LARGE,
            f"{frames} frames of {rows}x{cols}x{samples} exceed the limit of "
            f"{limits.max_total_samples} samples",
        )
    return frames


def _frame_index(frames: int, frame: int | None) -> int:
    if frame is None:
        return frames // 2
    if not 0 <= frame < frames:
        raise DicomlensError(
            ErrorCode.VALIDATION_ERROR, f"frame {frame} does not exist (the file has {frames})"
        )
    return frame


def _check_codec(tsyntax: UID) -> None:
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as exc:
        name = tsyntax.name if tsyntax.is_valid else tsyntax
        raise DicomlensError(
            ErrorCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"no decoder exists for the transfer syntax {name} ({tsyntax})",
        ) from exc
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)
        raise DicomlensError(
            ErrorCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"the transfer syntax {tsyntax.name} needs a codec that is not installed ({missing})",
        )


def _check_native_length(ds: Dataset, frames: int, value_length: int, remaining: int) -> None:
    if value_length == _UNDEFINED:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, "native pixel data must have a defined length"
        )
    rows, cols = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1))
    bits = int(ds.BitsAllocated)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        samples = 2  # native YBR_FULL_422 stores Y Y Cb Cr: two samples per pixel
    pixels = rows * cols * samples * frames
    expected = (pixels + 7) // 8 if bits == 1 else pixels * bits // 8
    if value_length < expected or remaining < expected:
        have = min(value_length, max(remaining, 0))
        raise DicomlensError(
            ErrorCode.TRUNCATED_PIXEL_DATA,
            f"the pixel data holds {have} bytes; {frames} frame(s) of {rows}x{cols} "
            f"need {expected}",
        )


def _ends_with_sequence_delimiter(path: Path, size: int) -> bool:
    """Encapsulated pixel data is the last element of an image file and ends with (FFFE,E0DD).

    Trailing padding (FFFC,FFFC) or bytes after the delimiter are tolerated by searching the
    last kilobyte rather than the last eight bytes.
    """
    with path.open("rb") as f:
        f.seek(max(0, size - 1024))
        tail = f.read()
    return (
        b"\xfe\xff\xdd\xe0\x00\x00\x00\x00" in tail or b"\xff\xfe\xe0\xdd\x00\x00\x00\x00" in tail
    )


def _decode_frame(src: BinaryIO | Dataset, tsyntax: UID, index: int) -> np.ndarray:
    kwargs: dict[str, Any] = {"index": index}
    if not isinstance(src, Dataset):
        kwargs["transfer_syntax_uid"] = tsyntax
    try:
        with _quiet():
            if tsyntax in _IJG_SYNTAXES:
                # Pillow's libjpeg(-turbo) decodes lossy JPEG exactly as DCMTK's IJG code
                # does (same IDCT and chroma upsampling); pylibjpeg differs by a few levels.
                try:
                    return np.asarray(pixel_array(src, decoding_plugin="pillow", **kwargs))
                except (RuntimeError, ValueError):
                    if not isinstance(src, Dataset):
                        src.seek(0)
            return np.asarray(pixel_array(src, **kwargs))
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # a Rust codec's panic (pyo3) is a BaseException
        # pylibjpeg-rle panics on some malformed RLE segments; whatever a codec raises while
        # decoding this frame means its data cannot be decoded.
        raise DicomlensError(
            ErrorCode.INVALID_DICOM,
            f"the {tsyntax.name} pixel data cannot be decoded ({type(exc).__name__})",
        ) from exc


def _parse(
    source: BinaryIO | Path, what: str, *, stop_before_pixels: bool = False, force: bool = True
) -> Dataset:
    """``pydicom.dcmread`` with every element's value converted now, not on first use.

    pydicom converts values lazily, so a malformed value would otherwise surface as an
    unexpected exception wherever it is first read (metadata, rendering ...).
    """
    with _quiet():
        try:
            ds = pydicom.dcmread(source, stop_before_pixels=stop_before_pixels, force=force)
            meta = getattr(ds, "file_meta", None)
            for part in (meta, ds) if meta is not None else (ds,):
                _convert_values(part)
        except _PARSE_ERRORS as exc:
            raise DicomlensError(
                ErrorCode.INVALID_DICOM, f"the DICOM {what} cannot be parsed ({type(exc).__name__})"
            ) from exc
    return ds


# Sequences whose items the imaging core reads (rendering, metadata); values inside other
# sequences stay lazy: converting them costs more than the rest of reading a CT header.
_SEQUENCES_READ = frozenset(
    {
        "SharedFunctionalGroupsSequence",
        "PerFrameFunctionalGroupsSequence",
        "PixelValueTransformationSequence",
        "FrameVOILUTSequence",
        "PixelMeasuresSequence",
        "VOILUTSequence",
        "ModalityLUTSequence",
    }
)


def _convert_values(ds: Dataset) -> None:
    """Convert every top-level value, and the values inside the sequences the core reads."""
    for element in ds:
        value = element.value
        if element.VR == "SQ" and element.keyword in _SEQUENCES_READ:
            for item in value:
                _convert_values(item)


def _read_whole(path: Path) -> Dataset:
    return _parse(path, "dataset", force=True)


def _read_deflated(path: Path, limits: ImagingLimits, frame: int | None) -> DecodedImage:
    """Deflated datasets must be inflated as a whole; inflate under a size cap first."""
    _check_inflated_size(path, limits)
    ds = _parse(path, "deflated dataset", force=True)
    if "PixelData" not in ds or "Rows" not in ds:
        return DecodedImage(
            kind="dicom", dataset=ds, pixels=None, photometric=None, frame_index=None, frame_count=0
        )
    frames = _check_geometry(ds, limits)
    index = _frame_index(frames, frame)
    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        length = len(ds.PixelData)
        _check_native_length(ds, frames, length, length)
    start = time.perf_counter()
    arr = _decode_frame(ds, DeflatedExplicitVRLittleEndian, index)
    elapsed = time.perf_counter() - start
    _check_deadline(elapsed, limits)
    del ds.PixelData
    return _decoded(ds, arr, index, frames, elapsed)


_INFLATE_STEP = 4 * 1024**2


def _check_inflated_size(path: Path, limits: ImagingLimits) -> None:
    """Inflate the dataset once, counting bytes, to refuse an inflate bomb before parsing.

    At most ``_INFLATE_STEP`` bytes are held at a time, so a 1 MB file that inflates to
    gigabytes costs CPU up to the limit, never that much memory.
    """
    with path.open("rb") as f:
        _skip_file_meta(f)
        # What follows the file meta of a deflated file is one raw deflate stream.
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        total = 0
        pending = b""
        while not inflater.eof:
            if not pending and not (pending := f.read(1 << 16)):
                break
            try:
                total += len(inflater.decompress(pending, _INFLATE_STEP))
            except zlib.error as exc:
                raise DicomlensError(
                    ErrorCode.INVALID_DICOM, "the deflated dataset is corrupt"
                ) from exc
            pending = inflater.unconsumed_tail
            if total > limits.max_inflated_bytes:
                raise DicomlensError(
                    ErrorCode.TOO_LARGE,
                    f"the deflated dataset inflates beyond {limits.max_inflated_bytes} bytes",
                )


def _skip_file_meta(f: IO[bytes]) -> bytes | None:
    """Position ``f`` after the file meta group (explicit VR little endian, PS3.10 7.1).

    Returns the Transfer Syntax UID's bytes, if the file meta holds one.
    """
    f.seek(128 if f.read(132)[128:132] == b"DICM" else 0)
    if f.read(4) != b"DICM":
        f.seek(f.tell() - 4)
    tsyntax = None
    while True:
        start = f.tell()
        head = f.read(8)
        if len(head) < 8 or struct.unpack("<H", head[:2])[0] != 0x0002:
            f.seek(start)
            return tsyntax
        if head[4:6] in _LONG_VRS:
            (length,) = struct.unpack("<I", f.read(4).ljust(4, b"\0"))
        else:
            (length,) = struct.unpack("<H", head[6:8])
        if struct.unpack("<H", head[2:4])[0] == 0x0010:
            tsyntax = f.read(min(length, 64)).rstrip(b"\0 ")
            f.seek(start + 8 + length)
        else:
            f.seek(length, 1)


def _is_deflated(path: Path) -> bool:
    """Whether the file meta declares the deflated syntax, read without touching the dataset.

    pydicom inflates a deflated dataset whole as soon as it parses it, so this must be
    known before the inflate-size check and before any pydicom parsing.
    """
    with path.open("rb") as f:
        return _skip_file_meta(f) == str(DeflatedExplicitVRLittleEndian).encode()


# --------------------------------------------------------------------------- PNG / JPEG


def _read_raster(path: Path, kind: FileKind, limits: ImagingLimits) -> DecodedImage:
    label: Literal["png", "jpeg"] = "png" if kind is FileKind.PNG else "jpeg"
    start = time.perf_counter()
    try:
        with _quiet(), Image.open(path) as img:
            width, height = img.size
            bands = len(img.getbands())
            if width * height * bands > limits.max_frame_samples:
                raise DicomlensError(
                    ErrorCode.TOO_LARGE,
                    f"a {width}x{height} image exceeds the limit of "
                    f"{limits.max_frame_samples} samples",
                )
            img.load()
            frame_count = getattr(img, "n_frames", 1)
            oriented = ImageOps.exif_transpose(img) if label == "jpeg" else img
            arr, photometric = _raster_to_array(oriented)
    except Image.DecompressionBombError as exc:
        raise DicomlensError(ErrorCode.TOO_LARGE, "the image is a decompression bomb") from exc
    except UnidentifiedImageError as exc:
        raise DicomlensError(ErrorCode.NOT_AN_IMAGE, f"the {label.upper()} cannot be read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DicomlensError(
            ErrorCode.TRUNCATED_PIXEL_DATA, f"the {label.upper()} data is truncated or damaged"
        ) from exc
    elapsed = time.perf_counter() - start
    _check_deadline(elapsed, limits)
    return DecodedImage(
        kind=label,
        dataset=None,
        pixels=arr,
        photometric=photometric,
        frame_index=0,
        frame_count=frame_count,
        decode_seconds=elapsed,
    )


def _raster_to_array(img: Image.Image) -> tuple[np.ndarray, str]:
    """8-bit grayscale or RGB pixels; alpha is composited on black, 16-bit scaled."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr16 = np.asarray(img, dtype=np.uint32)
        top = 65535 if arr16.max(initial=0) > 255 else 255
        return (arr16 * 255 // top).astype(np.uint8), "MONOCHROME2"
    if img.mode in ("1", "L"):
        return np.asarray(img.convert("L")), "MONOCHROME2"
    if img.mode == "LA":
        return np.asarray(img.convert("L")), "MONOCHROME2"
    return np.asarray(img.convert("RGB")), "RGB"
