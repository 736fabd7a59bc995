"""The checks a file passes before its pixels are decoded (and the deadline after).

Each check raises :class:`DicomlensError` with the stable code a user sees: TOO_LARGE for
a limit of :class:`ImagingLimits`, INVALID_DICOM or TRUNCATED_PIXEL_DATA for a header
that contradicts itself or the file, VALIDATION_ERROR for a frame that does not exist.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from pydicom.dataset import Dataset

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.results import VALUE_IGNORED, Finding
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.pixel_stream import UNDEFINED_LENGTH, skip_file_meta

_INFLATE_STEP = 4 * 1024**2


def check_file_size(size: int, limits: ImagingLimits) -> None:
    """Refuse a file larger than ``limits.max_file_bytes`` (TOO_LARGE)."""
    if size > limits.max_file_bytes:
        raise DicomlensError(
            ErrorCode.TOO_LARGE,
            f"the file has {size} bytes; the limit is {limits.max_file_bytes}",
        )


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


_PIXEL_MODULE_NUMBERS = (
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PlanarConfiguration",
    "NumberOfFrames",
)


def check_single_numbers(ds: Dataset) -> None:
    """The Image Pixel Module's numbers (PS3.3 C.7.6.3) hold one value each (VM 1).

    Several values mean a misread length swallowed the elements after one of them.
    """
    for keyword in _PIXEL_MODULE_NUMBERS:
        value = ds.get(keyword)
        if isinstance(value, list | tuple | bytes) or type(value).__name__ == "MultiValue":
            raise DicomlensError(ErrorCode.INVALID_DICOM, f"{keyword} holds more than one value")


def check_geometry(ds: Dataset, limits: ImagingLimits) -> int:
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
    if bits not in (1, 8, 12, 16, 32, 64):  # 12: ACR-NEMA packed, native only
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


_GREY = frozenset({"MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"})
_COLOUR = frozenset(
    {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420", "YBR_ICT"}
    | {"YBR_RCT", "HSV"}
)


def check_pixel_description(ds: Dataset) -> list[Finding]:
    """The Image Pixel Module's description of the pixels agrees with itself (PS3.3 C.7.6.3).

    Bits Stored lies in 1..Bits Allocated, Pixel Representation is 0 or 1, Planar
    Configuration of colour data is 0 or 1, and the Photometric Interpretation is one
    the standard defines for that many samples: otherwise INVALID_DICOM. A High Bit other
    than Bits Stored - 1 (PS3.5 8.1.1) is not used to read pixels, and Number of Frames 0
    is read as one frame: both are ignored, with a finding.
    """
    allocated = _int_attr(ds, "BitsAllocated", 0)
    stored = _int_attr(ds, "BitsStored", allocated)
    if allocated and not 1 <= stored <= allocated:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, f"BitsStored {stored} does not fit BitsAllocated {allocated}"
        )
    if _int_attr(ds, "PixelRepresentation", 0) not in (0, 1):
        raise DicomlensError(ErrorCode.INVALID_DICOM, "PixelRepresentation is neither 0 nor 1")
    samples = _int_attr(ds, "SamplesPerPixel", 1)
    if samples == 3 and _int_attr(ds, "PlanarConfiguration", 0) not in (0, 1):
        raise DicomlensError(ErrorCode.INVALID_DICOM, "PlanarConfiguration is neither 0 nor 1")
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip(" \x00").upper()
    if photometric and photometric not in (_GREY if samples == 1 else _COLOUR):
        raise DicomlensError(
            ErrorCode.INVALID_DICOM,
            f"PhotometricInterpretation is not one PS3.3 defines for {samples} sample(s)",
        )
    ignored = []
    high_bit = ds.get("HighBit")
    if high_bit not in (None, "") and _int_attr(ds, "HighBit") != stored - 1:
        ignored.append("(0028,0102) High Bit is not Bits Stored - 1; it was ignored")
    if ds.get("NumberOfFrames") not in (None, "") and _int_attr(ds, "NumberOfFrames") == 0:
        ignored.append("(0028,0008) Number of Frames is 0; the one frame was read")
    return [Finding(kind=VALUE_IGNORED, message=m, source="dicom-tags") for m in ignored]


def frame_index(frames: int, frame: int | None) -> int:
    """The frame to decode: ``frame`` if it exists, the middle one when None."""
    if frame is None:
        return frames // 2
    if not 0 <= frame < frames:
        raise DicomlensError(
            ErrorCode.VALIDATION_ERROR, f"frame {frame} does not exist (the file has {frames})"
        )
    return frame


def check_native_length(ds: Dataset, frames: int, value_length: int, remaining: int) -> None:
    """Native pixel data has a defined length that holds every declared frame (PS3.5 8.1.1).

    ``remaining`` is what the file holds after the value's start, which a truncated file
    makes shorter than the declared ``value_length``: a value that runs past the end of
    the file is truncated, even when the frames it holds fit.
    """
    if value_length == UNDEFINED_LENGTH:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, "native pixel data must have a defined length"
        )
    rows, cols = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1))
    bits = int(ds.BitsAllocated)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        samples = 2  # native YBR_FULL_422 stores Y Y Cb Cr: two samples per pixel
    pixels = rows * cols * samples * frames
    expected = (pixels * bits + 7) // 8
    if value_length < expected or remaining < expected or value_length > remaining:
        have = min(value_length, max(remaining, 0))
        raise DicomlensError(
            ErrorCode.TRUNCATED_PIXEL_DATA,
            f"the pixel data holds {have} bytes; {frames} frame(s) of {rows}x{cols} "
            f"need {expected}",
        )


def check_inflated_size(path: Path, limits: ImagingLimits) -> None:
    """Inflate the dataset once, counting bytes, to refuse an inflate bomb before parsing.

    At most ``_INFLATE_STEP`` bytes are held at a time, so a 1 MB file that inflates to
    gigabytes costs CPU up to the limit, never that much memory.
    """
    with path.open("rb") as f:
        skip_file_meta(f)
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


def check_deadline(elapsed: float, limits: ImagingLimits) -> None:
    """Refuse a result whose decoding took longer than ``limits.decode_timeout_s``."""
    if elapsed > limits.decode_timeout_s:
        raise DicomlensError(
            ErrorCode.DECODE_TIMEOUT,
            f"decoding took {elapsed:.1f} s; the limit is {limits.decode_timeout_s:g} s",
        )
