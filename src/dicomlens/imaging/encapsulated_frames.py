"""Where each frame of encapsulated pixel data lies, read from item headers only (PS3.5 A.4).

The items are walked by their lengths (8 bytes read per item, no fragment read), and the
fragments are grouped into frames the way PS3.5 A.4 allows: one frame holds them all; the
Extended or Basic Offset Table names each frame's first fragment; one fragment per
frame; or, without a usable table, each fragment that opens a codestream starts a frame.
Each frame is then a :class:`FrameBytes`, read a few bytes at a time from the file.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from dicomlens.domain.errors import DicomlensError, ErrorCode

_ITEM = b"\xfe\xff\x00\xe0"
_MAX_FRAGMENTS = 1 << 20


@dataclass(frozen=True)
class Fragment:
    """One fragment: where its item starts (from the first fragment's item) and its data."""

    item: int
    offset: int
    length: int


class FrameBytes:
    """The concatenated fragments of one frame, read from ``file`` on demand."""

    def __init__(self, file: IO[bytes], fragments: Sequence[Fragment]) -> None:
        self._file = file
        self._fragments = tuple(fragments)
        self._size = sum(fragment.length for fragment in self._fragments)

    @property
    def size(self) -> int:
        """How many bytes the frame's fragments hold together."""
        return self._size

    def read_at(self, offset: int, count: int) -> bytes:
        """Up to ``count`` bytes from ``offset`` of the frame, across fragment boundaries."""
        out = bytearray()
        start = 0
        for fragment in self._fragments:
            end = start + fragment.length
            if offset < end and len(out) < count:
                skip = max(offset - start, 0)
                self._file.seek(fragment.offset + skip)
                want = min(count - len(out), fragment.length - skip)
                out += self._file.read(want)
            start = end
            if len(out) >= count:
                break
        return bytes(out)


@dataclass(frozen=True, kw_only=True)
class EncapsulatedItems:
    """The Basic Offset Table's entries and every fragment, as the item headers state."""

    offset_table: tuple[int, ...]
    fragments: tuple[Fragment, ...]


def walk_items(file: IO[bytes], value_offset: int, size: int) -> EncapsulatedItems:
    """The items of the encapsulated pixel data whose value starts at ``value_offset``.

    Walking stops at the sequence delimiter, at anything that is not an item, or at the
    end of the ``size``-byte file; a fragment the file cuts short keeps what remains.
    Raises INVALID_DICOM beyond a million fragments.
    """
    file.seek(value_offset)
    head = file.read(8)
    if len(head) < 8 or head[:4] != _ITEM:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, "the encapsulated pixel data has no Basic Offset Table item"
        )
    (table_length,) = struct.unpack("<I", head[4:8])
    table: tuple[int, ...] = ()
    if table_length % 4 == 0 and value_offset + 8 + table_length <= size:
        raw = file.read(min(table_length, 4 * _MAX_FRAGMENTS))
        table = struct.unpack(f"<{len(raw) // 4}I", raw[: len(raw) // 4 * 4])
    first = value_offset + 8 + table_length
    position, fragments = first, list[Fragment]()
    while position + 8 <= size:
        file.seek(position)
        head = file.read(8)
        if head[:4] != _ITEM:
            break
        if len(fragments) >= _MAX_FRAGMENTS:
            raise DicomlensError(
                ErrorCode.INVALID_DICOM,
                f"the encapsulated pixel data has more than {_MAX_FRAGMENTS} fragments",
            )
        (length,) = struct.unpack("<I", head[4:8])
        length = min(length, size - position - 8)
        fragments.append(Fragment(item=position - first, offset=position + 8, length=length))
        position += 8 + length
    return EncapsulatedItems(offset_table=table, fragments=tuple(fragments))


def frame_fragments(
    items: EncapsulatedItems,
    frames: int,
    *,
    extended_offsets: Sequence[int] = (),
    opens_codestream: Callable[[Fragment], bool],
) -> list[tuple[Fragment, ...]]:
    """The fragments of each frame that can be told apart, in order (PS3.5 A.4).

    ``opens_codestream`` says whether a fragment starts with a codestream; it groups the
    fragments when no table fits. The result may hold fewer than ``frames`` frames when
    the data holds fewer codestreams.
    """
    fragments = items.fragments
    if frames <= 1 or not fragments:
        return [fragments] if fragments else []
    for table in (tuple(extended_offsets), items.offset_table):
        grouped = _by_table(fragments, table, frames)
        if grouped is not None:
            return grouped
    if len(fragments) == frames:
        return [(fragment,) for fragment in fragments]
    starts = [k for k, fragment in enumerate(fragments) if opens_codestream(fragment)]
    ends = [*starts[1:], len(fragments)]
    return [fragments[a:b] for a, b in zip(starts, ends, strict=True)]


def _by_table(
    fragments: Sequence[Fragment], table: Sequence[int], frames: int
) -> list[tuple[Fragment, ...]] | None:
    """The fragments grouped at the item offsets of ``table``, if every offset is one."""
    if len(table) != frames or table[0] != 0:
        return None
    index = {fragment.item: k for k, fragment in enumerate(fragments)}
    if any(offset not in index for offset in table):
        return None
    starts = [index[offset] for offset in table]
    if any(a >= b for a, b in itertools.pairwise(starts)):
        return None
    ends = [*starts[1:], len(fragments)]
    return [tuple(fragments[a:b]) for a, b in zip(starts, ends, strict=True)]
