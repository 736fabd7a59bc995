"""Check every compressed frame's own header against the dataset and the limits.

A decoder allocates what the codestream's header declares (:mod:`codestream_header`),
whatever Rows and Columns say. So before any frame is decoded, each frame's header is
read (a few bytes per frame) and must declare no more than the dataset:

- JPEG, JPEG-LS, JPEG 2000, HTJ2K: at most Rows lines of at most Columns samples, at
  most SamplesPerPixel components, and a precision of at most BitsAllocated bits. A
  smaller image is allowed here (the decoded frame's shape is checked after decoding),
  a larger one is INVALID_DICOM: the header contradicts the dataset.
- RLE Lossless: exactly SamplesPerPixel x BitsAllocated/8 segments (PS3.5 G.2), at
  offsets inside the frame; anything else is INVALID_DICOM.

The dataset itself has already passed the limits, so a consistent header is within them;
a header beyond ``limits.max_frame_samples`` is TOO_LARGE all the same, for callers that
check a dataset which did not pass :func:`~dicomlens.imaging.validation.check_geometry`.
Messages name markers, attributes and numbers only.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from pydicom.dataset import Dataset
from pydicom.uid import UID, RLELossless

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.codestream_header import (
    J2K_START,
    JP2_SIGNATURE,
    JPEG_START,
    ByteSource,
    CodestreamHeader,
    read_j2k_header,
    read_jpeg_header,
    read_rle_header,
)
from dicomlens.imaging.encapsulated_frames import (
    EncapsulatedItems,
    Fragment,
    FrameBytes,
    frame_fragments,
    walk_items,
)
from dicomlens.imaging.limits import ImagingLimits

# PS3.6 Table A-1: ISO 10918-1 (JPEG, .50-.66 and .70) and ISO 14495-1 (JPEG-LS, .80-.81)
# codestreams share the marker syntax; ISO 15444 (JPEG 2000 .90-.93, HTJ2K .201-.203).
JPEG_FAMILY = frozenset(UID(f"1.2.840.10008.1.2.4.{n}") for n in (*range(50, 67), 70, 80, 81))
J2K_FAMILY = frozenset(UID(f"1.2.840.10008.1.2.4.{n}") for n in (90, 91, 92, 93, 201, 202, 203))


@dataclass(frozen=True, kw_only=True)
class DeclaredImage:
    """What the dataset declares one frame to be (Rows, Columns, SamplesPerPixel, ...)."""

    rows: int
    columns: int
    samples: int
    bits_allocated: int

    @classmethod
    def of(cls, ds: Dataset) -> DeclaredImage:
        """The frame ``ds`` declares; missing attributes count as 0 (nothing allowed)."""
        return cls(
            rows=_int(ds, "Rows", 0),
            columns=_int(ds, "Columns", 0),
            samples=_int(ds, "SamplesPerPixel", 1),
            bits_allocated=_int(ds, "BitsAllocated", 0),
        )


def _int(ds: Dataset, keyword: str, default: int) -> int:
    try:
        return int(ds.get(keyword, default) or default)
    except (TypeError, ValueError):
        return default


def has_codestream_check(tsyntax: UID) -> bool:
    """Whether frames of ``tsyntax`` have a header this module reads."""
    return tsyntax in JPEG_FAMILY or tsyntax in J2K_FAMILY or tsyntax == RLELossless


class LocatedPixels(Protocol):
    """A DICOM file parsed up to its pixel data (as the DICOM reader locates it)."""

    @property
    def path(self) -> Path:
        """The file."""

    @property
    def dataset(self) -> Dataset:
        """Its dataset without the pixel data."""

    @property
    def transfer_syntax(self) -> UID:
        """The transfer syntax its file meta states."""


def check_file_codestreams(
    located: LocatedPixels, value_offset: int, *, frames: int, limits: ImagingLimits
) -> None:
    """Check every frame of the encapsulated pixel data at ``value_offset`` of a file.

    Raises INVALID_DICOM when a frame's header contradicts the dataset (see the module),
    and TOO_LARGE when it exceeds ``limits``. Reads item headers and frame headers only.
    """
    if not has_codestream_check(located.transfer_syntax):
        return
    with located.path.open("rb") as file:
        size = located.path.stat().st_size
        items = PixelItems(file=file, value_offset=value_offset, size=size)
        check_codestreams(items, located.dataset, located.transfer_syntax, frames, limits)


def check_dataset_codestreams(ds: Dataset, tsyntax: UID, limits: ImagingLimits) -> None:
    """:func:`check_file_codestreams` for a parsed dataset's encapsulated Pixel Data."""
    data = ds.get("PixelData")
    if not has_codestream_check(tsyntax) or not isinstance(data, bytes):
        return
    frames = _int(ds, "NumberOfFrames", 1) or 1
    items = PixelItems(file=io.BytesIO(data), value_offset=0, size=len(data))
    check_codestreams(items, ds, tsyntax, frames, limits)


@dataclass(frozen=True, kw_only=True)
class PixelItems:
    """Encapsulated pixel data: its value's offset in a ``size``-byte file."""

    file: IO[bytes]
    value_offset: int
    size: int


def check_codestreams(
    items: PixelItems, ds: Dataset, tsyntax: UID, frames: int, limits: ImagingLimits
) -> None:
    """Check each frame's header in ``items`` against ``ds`` and ``limits``."""
    declared = DeclaredImage.of(ds)
    for number, frame in enumerate(_frames(items, ds, tsyntax, frames), 1):
        try:
            if tsyntax == RLELossless:
                _check_rle(frame, declared, number)
                continue
            header = read_header(frame, tsyntax)
        except DicomlensError as exc:
            if exc.message.startswith("frame "):
                raise
            raise DicomlensError(exc.code, f"frame {number}: {exc.message}") from exc
        _check_header(header, declared, number, limits)


def frame_header(
    file: IO[bytes], value_offset: int, size: int, *, ds: Dataset, tsyntax: UID, index: int
) -> CodestreamHeader | None:
    """The header of frame ``index`` (0-based), None when it cannot be found or read."""
    frames = _int(ds, "NumberOfFrames", 1) or 1
    items = PixelItems(file=file, value_offset=value_offset, size=size)
    try:
        found = _frames(items, ds, tsyntax, frames)
        return read_header(found[index], tsyntax) if index < len(found) else None
    except DicomlensError:
        return None


def read_header(source: ByteSource, tsyntax: UID) -> CodestreamHeader:
    """The header of one JPEG-family or JPEG 2000-family frame (INVALID_DICOM if none)."""
    return read_j2k_header(source) if tsyntax in J2K_FAMILY else read_jpeg_header(source)


def _frames(where: PixelItems, ds: Dataset, tsyntax: UID, frames: int) -> list[FrameBytes]:
    grouped = locate_frames(where, ds, tsyntax, frames)
    return [FrameBytes(where.file, fragments) for fragments in grouped]


def locate_frames(
    where: PixelItems, ds: Dataset, tsyntax: UID, frames: int
) -> list[tuple[Fragment, ...]]:
    """The fragments of each of the ``frames`` frames of the encapsulated pixel data in
    ``where``, found as PS3.5 A.4 allows (see
    :func:`~dicomlens.imaging.encapsulated_frames.frame_fragments`); may be fewer."""
    file = where.file
    items = walk_items(file, where.value_offset, where.size)
    starts = _codestream_starts(tsyntax)

    def opens_codestream(fragment: Fragment) -> bool:
        file.seek(fragment.offset)
        head = file.read(12)
        return any(head.startswith(start) for start in starts)

    return frame_fragments(
        items,
        frames,
        extended_offsets=_extended_offsets(ds, items),
        opens_codestream=opens_codestream,
    )


def _codestream_starts(tsyntax: UID) -> tuple[bytes, ...]:
    if tsyntax in J2K_FAMILY:
        return (J2K_START, JP2_SIGNATURE)
    if tsyntax in JPEG_FAMILY:
        return (JPEG_START,)
    return ()  # RLE: one fragment per frame (PS3.5 A.4.2)


def _extended_offsets(ds: Dataset, items: EncapsulatedItems) -> Sequence[int]:
    """The Extended Offset Table (7FE0,0001) as item offsets, when the BOT is empty."""
    raw = ds.get("ExtendedOffsetTable")
    if items.offset_table or not isinstance(raw, bytes) or len(raw) % 8:
        return ()
    return [int.from_bytes(raw[k : k + 8], "little") for k in range(0, len(raw), 8)]


def _check_header(
    header: CodestreamHeader, declared: DeclaredImage, number: int, limits: ImagingLimits
) -> None:
    too_big = (
        header.rows > declared.rows
        or header.columns > declared.columns
        or header.samples > declared.samples
        or header.precision > declared.bits_allocated
    )
    claim = (
        f"frame {number}'s {header.marker} header declares {header.rows}x{header.columns}"
        f" with {header.samples} component(s) of {header.precision} bits"
    )
    if too_big:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM,
            f"{claim}, more than Rows {declared.rows}, Columns {declared.columns},"
            f" SamplesPerPixel {declared.samples} and BitsAllocated"
            f" {declared.bits_allocated} allow",
        )
    if header.rows * header.columns * header.samples > limits.max_frame_samples:
        raise DicomlensError(
            ErrorCode.TOO_LARGE,
            f"{claim}, beyond the limit of {limits.max_frame_samples} samples",
        )


def _check_rle(frame: FrameBytes, declared: DeclaredImage, number: int) -> None:
    rle = read_rle_header(frame)
    if declared.bits_allocated % 8:
        return  # no RLE decoder takes such data; the decoder says so
    expected = declared.samples * declared.bits_allocated // 8
    if len(rle.offsets) != expected:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM,
            f"frame {number}'s RLE header declares {len(rle.offsets)} segments;"
            f" SamplesPerPixel {declared.samples} and BitsAllocated"
            f" {declared.bits_allocated} need {expected}",
        )
