"""WADO-RS frames: the pixel data of chosen frames, as stored or decoded (PS3.18 10.4.1.1.4).

- Stored encoding (``transfer_syntax`` None, ``*`` or the stored one): an encapsulated
  frame is its fragments concatenated, the codestream bit-exact as stored, without item
  headers (PS3.18 8.7.3.3.2); a native frame is its bytes as stored, in explicit VR
  little endian (the same bytes for implicit and explicit VR little endian files), a frame
  of 1-bit or packed 12-bit data whose bits start mid-byte re-aligned to start at bit 0,
  of ``ceil(bits / 8)`` bytes, unpadded.
- ``1.2.840.10008.1.2.1`` (explicit VR little endian): each frame decoded by the project's
  reader (:func:`~dicomlens.imaging.decode.read_image`, under the limits) into the native
  layout of BitsAllocated and Pixel Representation, samples interleaved: the bytes of
  pydicom's ``pixel_array`` for that frame (YBR JPEG frames come out as RGB, as pydicom and
  DCMTK's ``dcmdjpeg`` give them). Big-endian and deflated files only have this form.
- Anything else is NOT_ACCEPTABLE (no transcoding to other compressed syntaxes).

Where each frame lies is read once per file version (size, mtime, inode) and kept in a
small in-process cache, so a frame of a CT costs an open, a seek and a read.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian

from dicomlens.dicomweb.negotiation import (
    ANY_SYNTAX,
    EXPLICIT_VR_LITTLE_ENDIAN,
    MULTIPART_RELATED,
    MediaOffer,
)
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.codestream_check import PixelItems, locate_frames
from dicomlens.imaging.decode import RASTER_KINDS, locate_file, read_image
from dicomlens.imaging.dicom_reader import LocatedDicom, locate_pixel_data, validate
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.validation import check_geometry

OCTET_STREAM = "application/octet-stream"
MAX_FRAME_LIST = 10_000
"""More frame numbers than this in one request is a VALIDATION_ERROR."""
MAX_ANSWER_BYTES = 1024**3
# Where each frame lies in an instance, kept when the instance is processed beside its
# job's derived images: a /frames request then reads the frames without parsing the file.
FRAME_LAYOUT_NAME = "dicomweb-frames.json"
""":func:`read_frames` refuses (TOO_LARGE) to hold more than this in memory at once."""

# PS3.18 Table 8.7.3-5: the media type of each compressed transfer syntax's frames, and
# the default transfer syntax of each media type (what a range without one asks for).
PIXEL_MEDIA_TYPES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
}
DEFAULT_SYNTAX: dict[str, str] = {
    "image/jpeg": "1.2.840.10008.1.2.4.70",
    "image/dicom-rle": "1.2.840.10008.1.2.5",
    "image/jls": "1.2.840.10008.1.2.4.80",
    "image/jp2": "1.2.840.10008.1.2.4.90",
    "image/jpx": "1.2.840.10008.1.2.4.92",
    "image/jphc": "1.2.840.10008.1.2.4.201",
}


Reader = Callable[[int, int], bytes]
"""Reads ``length`` bytes at ``offset`` of an instance's stored bytes."""


@dataclass(frozen=True, kw_only=True)
class Frame:
    """One frame's bytes and its 1-based number."""

    number: int
    data: bytes


@dataclass(frozen=True, kw_only=True)
class FramesAnswer:
    """The frames asked for, in the order asked, all in ``transfer_syntax``."""

    transfer_syntax: str
    frames: tuple[Frame, ...]

    @property
    def part_content_type(self) -> str:
        """Each part's Content-Type in a ``type="application/octet-stream"`` answer."""
        return f"{OCTET_STREAM}; transfer-syntax={self.transfer_syntax}"


@dataclass(frozen=True, kw_only=True)
class FramesStream:
    """Like :class:`FramesAnswer`, the frames read one at a time as they are iterated."""

    transfer_syntax: str
    frames: Iterator[Frame]


def stored_label(stored_syntax: str) -> str:
    """The transfer syntax the stored form of frames is labelled with: the stored one for
    compressed data, explicit VR little endian for native (and big-endian/deflated) data."""
    return stored_syntax if UID(stored_syntax).is_compressed else EXPLICIT_VR_LITTLE_ENDIAN


def frame_offers(stored_syntax: str) -> list[MediaOffer]:
    """What ``/frames`` can answer for an instance stored in ``stored_syntax``, in order of
    preference (for :func:`~dicomlens.dicomweb.negotiation.choose`).

    The stored encoding first (what ``transfer-syntax=*`` gets, nothing transcoded) as
    ``application/octet-stream`` parts; then decoded explicit VR little endian, the
    default of ``application/octet-stream`` (PS3.18 8.7.3.3.1) and so what an absent
    Accept or ``*/*`` gets; then the stored encoding as its PS3.18 Table 8.7.3-5 media type
    (``image/jls`` ...).
    """
    label = stored_label(stored_syntax)
    decoded = MediaOffer(
        media_type=MULTIPART_RELATED,
        part_type=OCTET_STREAM,
        transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN,
        default=True,
    )
    if label == EXPLICIT_VR_LITTLE_ENDIAN:
        return [decoded]
    offers = [
        MediaOffer(
            media_type=MULTIPART_RELATED,
            part_type=OCTET_STREAM,
            transfer_syntax=label,
            default=False,
        ),
        decoded,
    ]
    media = PIXEL_MEDIA_TYPES.get(label)
    if media is not None:
        offers.append(
            MediaOffer(
                media_type=MULTIPART_RELATED,
                part_type=media,
                transfer_syntax=label,
                default=DEFAULT_SYNTAX[media] == label,
            )
        )
    return offers


def parse_frame_list(segment: str) -> tuple[int, ...]:
    """The frame numbers of a ``/frames/{list}`` path segment: ``1``, ``1,2,3``, commas
    possibly still percent-encoded (``%2C``). Numbers are 1-based (PS3.18 10.4.1.1.4).

    Raises VALIDATION_ERROR for an empty list, anything but positive decimal numbers, or
    more than :data:`MAX_FRAME_LIST` numbers.
    """
    text = segment.replace("%2C", ",").replace("%2c", ",")
    pieces = text.split(",")
    if len(pieces) > MAX_FRAME_LIST:
        raise DicomlensError(
            ErrorCode.VALIDATION_ERROR, f"at most {MAX_FRAME_LIST} frames can be asked for at once"
        )
    numbers = []
    for raw in pieces:
        piece = raw.strip()
        if not (piece.isascii() and piece.isdigit()) or len(piece) > 9 or int(piece) < 1:
            raise DicomlensError(
                ErrorCode.VALIDATION_ERROR,
                "a frame list is frame numbers from 1, separated by commas",
            )
        numbers.append(int(piece))
    return tuple(numbers)


def read_frames(
    path: Path,
    numbers: Sequence[int],
    *,
    transfer_syntax: str | None,
    limits: ImagingLimits,
    max_bytes: int = MAX_ANSWER_BYTES,
    layout: FrameLayout | None = None,
) -> FramesAnswer:
    """The frames ``numbers`` (1-based) of the DICOM file at ``path`` (see the module).

    Raises NOT_FOUND for a frame number the file does not have (or no pixel data),
    NOT_ACCEPTABLE for a transfer syntax it cannot give, TOO_LARGE beyond ``max_bytes``
    together, and the reader's errors (INVALID_DICOM, TRUNCATED_PIXEL_DATA, TOO_LARGE,
    UNSUPPORTED_TRANSFER_SYNTAX) for a file it cannot read. ``layout``: the file's layout
    when known already (kept when the instance was processed), else it is read.
    """
    stream = stream_frames(
        path, numbers, transfer_syntax=transfer_syntax, limits=limits, layout=layout
    )
    return _collected(stream, max_bytes)


def read_stored_frames(
    read: Reader,
    layout: FrameLayout,
    numbers: Sequence[int],
    *,
    transfer_syntax: str | None,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> FramesAnswer | None:
    """The frames ``numbers`` as stored, read with ``read(offset, length)`` (e.g. ranged
    GETs of an object) at the places ``layout`` gives, when that is what is asked for;
    None when they must be decoded from the whole file instead (:func:`read_frames`).

    Raises as :func:`read_frames` for a frame the instance lacks, a transfer syntax it
    cannot give, or more than ``max_bytes``.
    """
    wanted = _checked_request(layout, numbers, transfer_syntax)
    if not _serves_stored(layout, wanted):
        return None
    stream = FramesStream(
        transfer_syntax=stored_label(layout.transfer_syntax),
        frames=_stored(read, layout, numbers),
    )
    return _collected(stream, max_bytes)


def _collected(stream: FramesStream, max_bytes: int) -> FramesAnswer:
    frames, total = [], 0
    for frame in stream.frames:
        total += len(frame.data)
        if total > max_bytes:
            raise DicomlensError(
                ErrorCode.TOO_LARGE, f"the frames asked for exceed {max_bytes} bytes: ask for fewer"
            )
        frames.append(frame)
    return FramesAnswer(transfer_syntax=stream.transfer_syntax, frames=tuple(frames))


def stream_frames(
    path: Path,
    numbers: Sequence[int],
    *,
    transfer_syntax: str | None,
    limits: ImagingLimits,
    layout: FrameLayout | None = None,
) -> FramesStream:
    """:func:`read_frames` with the frames read lazily; the file, the frame numbers and
    the transfer syntax are checked before this returns."""
    layout = layout or frame_layout(path, limits)
    wanted = _checked_request(layout, numbers, transfer_syntax)
    if _serves_stored(layout, wanted):
        return FramesStream(
            transfer_syntax=stored_label(layout.transfer_syntax),
            frames=_stored_in_file(path, layout, numbers),
        )
    return FramesStream(
        transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN, frames=_decoded(path, layout, numbers, limits)
    )


def _checked_request(
    layout: FrameLayout, numbers: Sequence[int], transfer_syntax: str | None
) -> str:
    """The transfer syntax asked for (``*`` when none); NOT_FOUND for a frame the instance
    lacks, NOT_ACCEPTABLE for a syntax it cannot give."""
    for number in numbers:
        if not 1 <= number <= layout.frame_count:
            raise DicomlensError(
                ErrorCode.NOT_FOUND,
                f"frame {number} does not exist (the instance has {layout.frame_count})",
            )
    label = stored_label(layout.transfer_syntax)
    wanted = transfer_syntax.strip() if transfer_syntax is not None else ANY_SYNTAX
    if wanted not in (ANY_SYNTAX, label, EXPLICIT_VR_LITTLE_ENDIAN):
        raise DicomlensError(
            ErrorCode.NOT_ACCEPTABLE,
            f"frames of this instance are available in {label}"
            + ("" if label == EXPLICIT_VR_LITTLE_ENDIAN else f" or {EXPLICIT_VR_LITTLE_ENDIAN}")
            + f", not {wanted[:64]}",
        )
    return wanted


def _serves_stored(layout: FrameLayout, wanted: str) -> bool:
    return wanted in (ANY_SYNTAX, stored_label(layout.transfer_syntax)) and layout.stored_readable


# ----------------------------------------------------------------------------- layout


@dataclass(frozen=True, kw_only=True)
class FrameLayout:
    """Where the frames of one file lie, and how many it has."""

    transfer_syntax: str
    frame_count: int
    stored_readable: bool
    """Whether the stored bytes are the answer's (False: big endian, deflated)."""
    value_offset: int = 0
    frame_bits: int = 0
    """Bits per native frame."""
    fragments: tuple[tuple[tuple[int, int], ...], ...] = ()
    """Encapsulated: each frame's fragments as (file offset, length)."""
    bits_allocated: int = 0
    signed: bool = False


def layout_to_json(layout: FrameLayout) -> bytes:
    """The layout as a JSON document (see :func:`layout_from_json`)."""
    return json.dumps(dataclasses.asdict(layout), separators=(",", ":")).encode()


def layout_from_json(data: bytes) -> FrameLayout:
    """The layout :func:`layout_to_json` wrote; INTERNAL for anything else."""
    try:
        raw = json.loads(data)
        fragments = tuple(
            tuple((int(offset), int(length)) for offset, length in frame)
            for frame in raw.pop("fragments")
        )
        return FrameLayout(fragments=fragments, **raw)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DicomlensError(ErrorCode.INTERNAL, "a kept frame layout is unreadable") from exc


def frame_layout(
    path: Path, limits: ImagingLimits, *, located: LocatedDicom | None = None
) -> FrameLayout:
    """Where the frames of the DICOM file at ``path`` lie, read once per file version;
    from ``located`` (the file as the analysis just parsed it, :attr:`Analysis.located`)
    without parsing it again when that is this same file at its current size.

    Raises NOT_FOUND when it has no pixel data, and the reader's errors.
    """
    stat = path.stat()
    if located is not None and located.is_file(path, stat.st_size):
        return layout_of(located, limits)
    return _cached_layout(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino, limits)


@functools.lru_cache(maxsize=2048)
def _cached_layout(
    name: str, size: int, mtime_ns: int, inode: int, limits: ImagingLimits
) -> FrameLayout:
    """The layout of the file ``name`` as it is at (size, mtime, inode)."""
    del mtime_ns, inode  # part of the cache key only
    path = Path(name)
    source = locate_file(path, limits=limits)
    if source.kind in RASTER_KINDS:
        raise DicomlensError(ErrorCode.INVALID_DICOM, "the file is not DICOM")
    return layout_of(locate_pixel_data(path, source.kind, size), limits)


def layout_of(located: LocatedDicom, limits: ImagingLimits) -> FrameLayout:
    """The frame layout of a DICOM file parsed up to its pixel data (:func:`locate_pixel_data`).

    Raises NOT_FOUND when it has no pixel data, and the reader's errors.
    """
    path, size = located.path, located.size
    ds, pixel = located.dataset, located.pixel
    tsyntax = located.transfer_syntax
    if tsyntax == DeflatedExplicitVRLittleEndian:
        image = read_image(path, limits=limits, frame=0)
        if not image.has_image:
            raise DicomlensError(ErrorCode.NOT_FOUND, "the instance has no pixel data")
        return FrameLayout(
            transfer_syntax=str(tsyntax), frame_count=image.frame_count, stored_readable=False
        )
    if pixel is None or "Rows" not in ds or "Columns" not in ds:
        raise DicomlensError(ErrorCode.NOT_FOUND, "the instance has no pixel data")
    choice = validate(located, pixel, limits, 0)
    bits = int(ds.get("BitsAllocated", 0) or 0)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    if tsyntax.is_compressed:
        with path.open("rb") as file:
            where = PixelItems(file=file, value_offset=pixel.value_offset, size=size)
            grouped = locate_frames(where, ds, tsyntax, choice.frame_count)
        if len(grouped) < choice.frame_count:
            raise DicomlensError(
                ErrorCode.INVALID_DICOM,
                f"the pixel data holds {len(grouped)} frames where {choice.frame_count} are"
                " declared",
            )
        fragments = tuple(tuple((f.offset, f.length) for f in frame) for frame in grouped)
        return FrameLayout(
            transfer_syntax=str(tsyntax),
            frame_count=choice.frame_count,
            stored_readable=True,
            fragments=fragments,
            bits_allocated=bits,
            signed=signed,
        )
    check_geometry(ds, limits)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    return FrameLayout(
        transfer_syntax=str(tsyntax),
        frame_count=choice.frame_count,
        stored_readable=located.little_endian and tsyntax != ExplicitVRBigEndian,
        value_offset=pixel.value_offset,
        frame_bits=int(ds.Rows) * int(ds.Columns) * samples * bits,
        bits_allocated=bits,
        signed=signed,
    )


# ----------------------------------------------------------------------------- reading


def _stored_in_file(path: Path, layout: FrameLayout, numbers: Sequence[int]) -> Iterator[Frame]:
    with path.open("rb") as file:

        def read(offset: int, length: int) -> bytes:
            file.seek(offset)
            return file.read(length)

        yield from _stored(read, layout, numbers)


def _stored(read: Reader, layout: FrameLayout, numbers: Sequence[int]) -> Iterator[Frame]:
    for number in numbers:
        if layout.fragments:
            data = _fragments(read, layout.fragments[number - 1])
        else:
            data = _native(read, layout, number - 1)
        yield Frame(number=number, data=data)


def _fragments(read: Reader, fragments: tuple[tuple[int, int], ...]) -> bytes:
    """A frame's fragments joined: one read of their span when the item headers between
    them are all that is skipped (one ranged GET per frame), else one read each."""
    start = fragments[0][0]
    end = max(offset + length for offset, length in fragments)
    total = sum(length for _, length in fragments)
    if end - start <= total + 8 * len(fragments):
        span = read(start, end - start)
        return b"".join(
            span[offset - start : offset - start + length] for offset, length in fragments
        )
    return b"".join(read(offset, length) for offset, length in fragments)


def _native(read: Reader, layout: FrameLayout, index: int) -> bytes:
    """Frame ``index``'s bits, from the first value byte, as bytes starting at bit 0."""
    first_bit = index * layout.frame_bits
    start, skip = divmod(first_bit, 8)
    count = (skip + layout.frame_bits + 7) // 8
    raw = read(layout.value_offset + start, count)
    if len(raw) < count:
        raise DicomlensError(ErrorCode.TRUNCATED_PIXEL_DATA, f"frame {index + 1} is cut short")
    if skip == 0 and layout.frame_bits % 8 == 0:
        return raw
    # PS3.5 8.1.1: bit-packed data runs across frames; little-endian bit order.
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    frame_bits = bits[skip : skip + layout.frame_bits]
    return np.packbits(frame_bits, bitorder="little").tobytes()


def _decoded(
    path: Path, layout: FrameLayout, numbers: Sequence[int], limits: ImagingLimits
) -> Iterator[Frame]:
    for number in numbers:
        image = read_image(path, limits=limits, frame=number - 1)
        if image.pixels is None:  # pragma: no cover - the layout found pixel data
            raise DicomlensError(ErrorCode.NOT_FOUND, "the instance has no pixel data")
        data = native_bytes(image.pixels, layout.bits_allocated, layout.signed)
        yield Frame(number=number, data=data)


def native_bytes(pixels: np.ndarray, bits_allocated: int, signed: bool) -> bytes:
    """``pixels`` in the native little-endian layout of ``bits_allocated`` (PS3.5 8.1.1):
    1-bit values packed eight to a byte, lowest bit first; samples interleaved as given."""
    if bits_allocated == 1:
        return np.packbits(pixels.ravel().astype(np.uint8) & 1, bitorder="little").tobytes()
    if pixels.dtype.kind == "f":
        return np.ascontiguousarray(pixels, dtype=f"<f{bits_allocated // 8}").tobytes()
    dtype = np.dtype(f"<{'i' if signed else 'u'}{max(bits_allocated, 8) // 8}")
    return np.ascontiguousarray(pixels).astype(dtype, copy=False).tobytes()
