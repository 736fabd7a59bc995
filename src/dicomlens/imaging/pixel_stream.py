"""Byte-level reading of a DICOM file around its pixel data, without pydicom.

These functions read element headers, the file meta group and delimiters straight from
the bytes (PS3.5 7.1, A.4; PS3.10 7.1), so the reader knows where the pixel data lies and
how long it claims to be before any pixel is decoded or any dataset is inflated.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, BinaryIO

from pydicom.uid import DeflatedExplicitVRLittleEndian

from dicomlens.imaging.sniff import FileKind

PIXEL_DATA_TAG = 0x7FE00010
PIXEL_TAGS = {PIXEL_DATA_TAG, 0x7FE00008, 0x7FE00009}  # Pixel, Float Pixel, Double Float
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
)
"""Explicit VRs with a reserved field and a 32-bit length (PS3.5 7.1.2)."""
UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True, kw_only=True)
class PixelHeader:
    """Where the pixel data element's value lies in the file, as its header declares it."""

    value_length: int
    """The declared length: :data:`UNDEFINED_LENGTH` for encapsulated data."""
    remaining: int
    """Bytes in the file from the first value byte to the end of the file."""
    value_offset: int
    """Offset of the first value byte."""
    tag: int
    """Pixel Data, Float Pixel Data or Double Float Pixel Data."""

    @property
    def is_undefined_length(self) -> bool:
        """Whether the value is encapsulated (fragments closed by a sequence delimiter)."""
        return self.value_length == UNDEFINED_LENGTH

    def shifted(self, base: int) -> PixelHeader:
        """The same header with its offset counted from ``base`` bytes earlier."""
        return replace(self, value_offset=self.value_offset + base)


class OffsetView(io.RawIOBase):
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


def dataset_start(raw: IO[bytes], kind: FileKind) -> int:
    """Where the dataset starts in ``raw``: after a "DICM" prefix that lost its preamble.

    pydicom looks for the prefix at offset 128 only, so such a file is read through a view
    that starts after the prefix. Leaves ``raw`` positioned at the returned offset.
    """
    base = 4 if kind is FileKind.DICOM_NO_PREAMBLE and raw.read(4) == b"DICM" else 0
    raw.seek(base)
    return base


def view_from(raw: BinaryIO, base: int) -> BinaryIO:
    """``raw`` itself when ``base`` is 0, else an :class:`OffsetView` starting at ``base``."""
    return OffsetView(raw, base) if base else raw  # type: ignore[return-value]


def read_pixel_header(
    f: IO[bytes], *, implicit: bool, little: bool, size: int
) -> PixelHeader | None:
    """The header of the pixel data element that starts at ``f``'s position.

    ``f`` is positioned where pydicom stopped before the pixel data and holds ``size``
    bytes. Returns None when the dataset has no pixel data element.
    """
    head = f.read(12)
    if len(head) < 8:
        return None
    endian = "<" if little else ">"
    group, element = struct.unpack(endian + "HH", head[:4])
    if (group << 16 | element) not in PIXEL_TAGS:
        return None
    # A dataset may be written in implicit VR despite declaring explicit VR (pydicom reads
    # it with a warning): a VR is two upper-case letters, a 32-bit length almost never is.
    if implicit or not head[4:6].isalpha() or not head[4:6].isupper():
        (length,) = struct.unpack(endian + "I", head[4:8])
        header = 8
    elif head[4:6] in LONG_VRS:
        if len(head) < 12:
            return None
        (length,) = struct.unpack(endian + "I", head[8:12])
        header = 12
    else:
        (length,) = struct.unpack(endian + "H", head[6:8])
        header = 8
    position = f.tell() - len(head) + header
    return PixelHeader(
        value_length=length,
        remaining=size - position,
        value_offset=position,
        tag=group << 16 | element,
    )


def ends_with_sequence_delimiter(path: Path, size: int) -> bool:
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


def skip_file_meta(f: IO[bytes]) -> bytes | None:
    """Position ``f`` after the file meta group (explicit VR little endian, PS3.10 7.1).

    Returns the Transfer Syntax UID's bytes, if the file meta holds one: the first one, as
    a group 0002 repeated at the start of the dataset must not override the file meta's.
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
        if head[4:6] in LONG_VRS:
            (length,) = struct.unpack("<I", f.read(4).ljust(4, b"\0"))
        else:
            (length,) = struct.unpack("<H", head[6:8])
        if struct.unpack("<H", head[2:4])[0] == 0x0010 and tsyntax is None:
            tsyntax = f.read(min(length, 64)).rstrip(b"\0 ")
            f.seek(start + 8 + length)
        else:
            f.seek(length, 1)


def is_deflated(path: Path) -> bool:
    """Whether the file meta declares the deflated syntax, read without touching the dataset.

    pydicom inflates a deflated dataset whole as soon as it parses it, so this must be
    known before the inflate-size check and before any pydicom parsing.
    """
    with path.open("rb") as f:
        return skip_file_meta(f) == str(DeflatedExplicitVRLittleEndian).encode()


def file_meta_transfer_syntax(path: Path) -> str | None:
    """The Transfer Syntax UID the file meta states first (PS3.10 7.1), read from the bytes.

    pydicom keeps the last of the group 0002 elements it reads before the dataset, so a
    group 0002 repeated at the start of the dataset overrides the real one there.
    """
    with path.open("rb") as f:
        value = skip_file_meta(f)
    if not value:
        return None
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True, kw_only=True)
class BytePatch:
    """Bytes that replace the same number of bytes at ``offset`` when the file is read."""

    offset: int
    data: bytes


class PatchedView(OffsetView):
    """:class:`OffsetView` whose reads see ``patches`` in place of the file's bytes.

    Patches keep the length of what they replace, so every offset stays the file's.
    """

    def __init__(self, raw: IO[bytes], base: int, patches: tuple[BytePatch, ...]) -> None:
        super().__init__(raw, base)
        self._patches = patches

    def read(self, size: int = -1) -> bytes:
        start = self._raw.tell()
        data = self._raw.read(size)
        end = start + len(data)
        if not any(p.offset < end and start < p.offset + len(p.data) for p in self._patches):
            return data
        out = bytearray(data)
        for patch in self._patches:
            for k, byte in enumerate(patch.data):
                if start <= patch.offset + k < end:
                    out[patch.offset + k - start] = byte
        return bytes(out)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def encapsulated_fragments_complete(path: Path, value_offset: int, size: int) -> bool:
    """Whether the items of encapsulated pixel data at ``value_offset`` run whole to the end.

    For pixel data whose sequence delimiter is missing (PS3.5 A.4): True when every item
    (the offset table, then the fragments) has its whole declared length in the file and
    the last one ends at the end of the file, or is followed only by the start of the
    delimiter.
    """
    item = b"\xfe\xff\x00\xe0"
    delimiter = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    position, items = value_offset, 0
    with path.open("rb") as f:
        while True:
            f.seek(position)
            head = f.read(8)
            if not head or delimiter.startswith(head):
                return items >= 2  # the offset table and at least one fragment
            if len(head) < 8 or head[:4] != item:
                return False
            (length,) = struct.unpack("<I", head[4:8])
            if length == UNDEFINED_LENGTH or position + 8 + length > size:
                return False
            position += 8 + length
            items += 1
