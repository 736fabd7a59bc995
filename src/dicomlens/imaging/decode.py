"""Read one image file under limits and decode only the frame that is needed.

The entry point other modules use. It locates the file (size limit, then its kind from
its first bytes) and hands it to the reader for that kind:

- :mod:`~dicomlens.imaging.raster`: PNG and JPEG through Pillow, with its
  decompression-bomb guard left on;
- :mod:`~dicomlens.imaging.dicom_reader`: DICOM (PS3.10, with or without preamble) in
  locate -> validate -> decode steps, so the limits, the transfer syntax and the
  pixel-data length are checked before any pixel is decoded, and only the wanted frame
  is read from the file; a deflated dataset is inflated under a size cap first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dicomlens.imaging.decoded_image import DecodedImage
from dicomlens.imaging.dicom_reader import (
    MaxSide,
    read_deflated_image,
    read_dicom_image,
    resolve_max_side,
)
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.pixel_stream import is_deflated
from dicomlens.imaging.raster import read_raster
from dicomlens.imaging.sniff import FileKind, sniff_bytes
from dicomlens.imaging.validation import check_file_size

__all__ = ["DecodedImage", "SourceFile", "locate_file", "read_image"]

RASTER_KINDS = (FileKind.PNG, FileKind.JPEG)


@dataclass(frozen=True, kw_only=True)
class SourceFile:
    """A file that passed the file-size limit, and what its first bytes say it is."""

    kind: FileKind
    size: int


def locate_file(path: Path, *, limits: ImagingLimits) -> SourceFile:
    """The size and kind of ``path``, checked against ``limits.max_file_bytes`` first.

    Raises :class:`~dicomlens.domain.errors.DicomlensError` with TOO_LARGE or NOT_AN_IMAGE.
    """
    size = path.stat().st_size
    check_file_size(size, limits)
    with path.open("rb") as f:
        kind = sniff_bytes(f.read(132))
    return SourceFile(kind=kind, size=size)


def read_image(
    path: Path, *, limits: ImagingLimits, frame: int | None = None, max_side: MaxSide = None
) -> DecodedImage:
    """Read ``path`` and decode one frame (the middle one unless ``frame`` is given).

    ``max_side``: the long side, in pixels, of the largest picture the caller will make
    from the frame. A frame more than twice as large may then be decoded smaller, its
    long side still at least ``max_side`` (JPEG 2000 and HTJ2K resolution levels, k x k
    block means of native DICOM data, JPEG's scaled DCT); ``DecodedImage.reduction``
    says by how much.
    None (the default): full resolution. A function of the DICOM data set (pixels not
    read yet; None for a PNG or JPEG) gives it once the file's header is known.

    Raises :class:`~dicomlens.domain.errors.DicomlensError` with NOT_AN_IMAGE,
    INVALID_DICOM, UNSUPPORTED_TRANSFER_SYNTAX, TRUNCATED_PIXEL_DATA, TOO_LARGE,
    VALIDATION_ERROR (no such frame) or DECODE_TIMEOUT.
    """
    source = locate_file(path, limits=limits)
    if source.kind in RASTER_KINDS:
        return read_raster(path, source.kind, limits, max_side=resolve_max_side(max_side, None))
    if is_deflated(path):
        return read_deflated_image(path, limits, frame)
    return read_dicom_image(path, source.kind, source.size, limits, frame, max_side=max_side)
