"""Read one frame of a DICOM file in three steps: locate, validate, decode.

*Locate* parses the dataset without its pixel data and finds the pixel data's header in
the file; *validate* checks the limits, the codec and that the pixel data is as long as
its frames need, before any pixel is decoded; *decode* reads only the wanted frame,
native integer data straight from the file and everything else through pydicom's
plugins, so a 1 GB multi-frame file never needs 1 GB of memory. A deflated dataset must
be inflated whole; it is read by :func:`read_deflated_image` after an inflate-size cap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.decoded_image import DecodedImage
from dicomlens.imaging.dicom_dataset import parse_dataset, transfer_syntax
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.native_frame import read_native_frame
from dicomlens.imaging.pixel_codecs import decode_frame, require_codec
from dicomlens.imaging.pixel_stream import (
    PIXEL_DATA_TAG,
    PixelHeader,
    dataset_start,
    ends_with_sequence_delimiter,
    read_pixel_header,
    view_from,
)
from dicomlens.imaging.quiet import quiet_warnings
from dicomlens.imaging.sniff import FileKind
from dicomlens.imaging.validation import (
    check_deadline,
    check_geometry,
    check_inflated_size,
    check_native_length,
    frame_index,
)

# Up to this size a file that the file-based decoder refuses is parsed whole as a retry.
_SMALL_FILE = 64 * 1024**2


@dataclass(frozen=True, kw_only=True)
class LocatedDicom:
    """A DICOM file parsed up to its pixel data: what the validate and decode steps need."""

    path: Path
    size: int
    base: int
    """Bytes before the dataset (a "DICM" prefix that lost its preamble), else 0."""
    dataset: Dataset
    transfer_syntax: UID
    little_endian: bool
    pixel: PixelHeader | None
    """The pixel data element's header, offsets counted from the start of the file."""


@dataclass(frozen=True, kw_only=True)
class FrameChoice:
    """The frame to decode, out of how many, after validation."""

    index: int
    frame_count: int


def read_dicom_image(
    path: Path, kind: FileKind, size: int, limits: ImagingLimits, frame: int | None
) -> DecodedImage:
    """Read ``path`` (a DICOM file of ``size`` bytes, sniffed as ``kind``) and decode one
    frame: ``frame``, or the middle one when None."""
    located = locate_pixel_data(path, kind, size)
    if located.transfer_syntax == DeflatedExplicitVRLittleEndian:
        return read_deflated_image(path, limits, frame)
    ds, pixel = located.dataset, located.pixel
    if pixel is None or "Rows" not in ds or "Columns" not in ds:
        return _without_image(ds)
    choice = validate(located, pixel, limits, frame)
    return decode(located, pixel, choice, limits)


def locate_pixel_data(path: Path, kind: FileKind, size: int) -> LocatedDicom:
    """Parse the dataset without its pixel data, and read the pixel data's header.

    The header is not read for a deflated dataset, whose bytes are compressed.
    """
    with path.open("rb") as raw, quiet_warnings():
        base = dataset_start(raw, kind)
        f = view_from(raw, base)
        ds = parse_dataset(
            f, "header", stop_before_pixels=True, force=kind is FileKind.DICOM_NO_PREAMBLE
        )
        tsyntax = transfer_syntax(ds)
        implicit, little = ds.original_encoding
        pixel = None
        if tsyntax != DeflatedExplicitVRLittleEndian:
            pixel = read_pixel_header(
                f, implicit=bool(implicit), little=bool(little), size=size - base
            )
    return LocatedDicom(
        path=path,
        size=size,
        base=base,
        dataset=ds,
        transfer_syntax=tsyntax,
        little_endian=bool(little),
        pixel=pixel.shifted(base) if pixel is not None else None,
    )


def validate(
    located: LocatedDicom, pixel: PixelHeader, limits: ImagingLimits, frame: int | None
) -> FrameChoice:
    """Check the limits, the codec and the length of ``pixel``'s value; choose the frame.

    Raises TOO_LARGE, VALIDATION_ERROR, UNSUPPORTED_TRANSFER_SYNTAX, INVALID_DICOM or
    TRUNCATED_PIXEL_DATA.
    """
    frames = check_geometry(located.dataset, limits)
    index = frame_index(frames, frame)
    require_codec(located.transfer_syntax)
    if located.transfer_syntax.is_compressed:
        _check_encapsulated(located, pixel)
    else:
        check_native_length(located.dataset, frames, pixel.value_length, pixel.remaining)
    return FrameChoice(index=index, frame_count=frames)


def _check_encapsulated(located: LocatedDicom, pixel: PixelHeader) -> None:
    """Compressed pixel data is encapsulated and closed by its delimiter (PS3.5 A.4)."""
    if not pixel.is_undefined_length:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, "compressed pixel data must be encapsulated (undefined length)"
        )
    if not ends_with_sequence_delimiter(located.path, located.size):
        raise DicomlensError(
            ErrorCode.TRUNCATED_PIXEL_DATA,
            "the encapsulated pixel data ends before its sequence delimiter",
        )


def decode(
    located: LocatedDicom, pixel: PixelHeader, choice: FrameChoice, limits: ImagingLimits
) -> DecodedImage:
    """Decode the chosen frame: native integer data from the file, the rest by plugins.

    Raises INVALID_DICOM when the data cannot be decoded, DECODE_TIMEOUT when it took longer
    than the limit.
    """
    start = time.perf_counter()
    pixels = None
    if not located.transfer_syntax.is_compressed and pixel.tag == PIXEL_DATA_TAG:
        pixels = read_native_frame(
            located.path,
            located.dataset,
            pixel.value_offset,
            choice.index,
            little=located.little_endian,
        )
    if pixels is None:
        pixels = _decode_with_plugins(located, choice.index)
    elapsed = time.perf_counter() - start
    check_deadline(elapsed, limits)
    return _with_image(located.dataset, pixels, choice, elapsed)


def _decode_with_plugins(located: LocatedDicom, index: int) -> np.ndarray:
    """Frame ``index`` decoded by pydicom from the file, or from the whole parsed dataset."""
    try:
        with located.path.open("rb") as raw:
            raw.seek(located.base)
            return decode_frame(view_from(raw, located.base), located.transfer_syntax, index)
    except DicomlensError:
        if located.size > _SMALL_FILE or located.base:
            raise
        # pydicom's file-based decoder assumes the declared VR encoding; its dataset
        # reader also copes with a dataset written in implicit VR under an explicit
        # syntax. Small files only: the whole file is read into memory.
        whole = parse_dataset(located.path, "dataset", force=True)
        return decode_frame(whole, located.transfer_syntax, index)


def read_deflated_image(path: Path, limits: ImagingLimits, frame: int | None) -> DecodedImage:
    """Deflated datasets must be inflated as a whole; inflate under a size cap first."""
    check_inflated_size(path, limits)
    ds = parse_dataset(path, "deflated dataset", force=True)
    if "PixelData" not in ds or "Rows" not in ds:
        return _without_image(ds)
    frames = check_geometry(ds, limits)
    index = frame_index(frames, frame)
    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        length = len(ds.PixelData)
        check_native_length(ds, frames, length, length)
    start = time.perf_counter()
    arr = decode_frame(ds, DeflatedExplicitVRLittleEndian, index)
    elapsed = time.perf_counter() - start
    check_deadline(elapsed, limits)
    del ds.PixelData
    return _with_image(ds, arr, FrameChoice(index=index, frame_count=frames), elapsed)


def _without_image(ds: Dataset) -> DecodedImage:
    return DecodedImage(
        kind="dicom", dataset=ds, pixels=None, photometric=None, frame_index=None, frame_count=0
    )


def _with_image(ds: Dataset, arr: np.ndarray, choice: FrameChoice, elapsed: float) -> DecodedImage:
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if int(ds.get("SamplesPerPixel", 1)) == 3 and photometric != "PALETTE COLOR":
        photometric = "RGB"  # pydicom converts YBR_* to RGB while decoding
    return DecodedImage(
        kind="dicom",
        dataset=ds,
        pixels=arr,
        photometric=photometric,
        frame_index=choice.index,
        frame_count=choice.frame_count,
        decode_seconds=elapsed,
    )
