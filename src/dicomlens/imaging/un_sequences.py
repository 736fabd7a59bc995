"""Find undefined-length UN elements in a big endian dataset, which pydicom cannot read.

PS3.5 6.2.2: an element of VR UN with an undefined length is a sequence whose items are
encoded in Implicit VR Little Endian, whatever the dataset's transfer syntax. pydicom
3.0.2 reads such a sequence in the dataset's own encoding, which fails for Explicit VR
Big Endian. This module walks the dataset's bytes, finds each such element's end by
reading its items as implicit little endian, and returns patches of the same length that
turn its header into a defined-length OB header: pydicom then skips the element's bytes.
"""

from __future__ import annotations

import struct
from typing import IO

from dicomlens.imaging.pixel_stream import (
    LONG_VRS,
    PIXEL_TAGS,
    UNDEFINED_LENGTH,
    BytePatch,
)

_ITEM = (0xFFFE, 0xE000)
_ITEM_END = (0xFFFE, 0xE00D)
_SEQUENCE_END = (0xFFFE, 0xE0DD)
_MAX_DEPTH = 32  # nesting deeper than this is not a real dataset


def big_endian_un_patches(f: IO[bytes]) -> tuple[tuple[BytePatch, ...], tuple[int, ...]]:
    """Patches for the undefined-length UN elements of the big endian dataset at ``f``.

    ``f`` is positioned at the dataset's first element. Returns the patches and the tags
    of the elements patched. Walking stops quietly at anything it cannot read: pydicom
    then reports that part of the file as it would have.
    """
    patches: list[BytePatch] = []
    tags: list[int] = []
    _elements(f, patches, tags, stop_at=None, top=True, depth=0)
    return tuple(patches), tuple(tags)


def _elements(
    f: IO[bytes],
    patches: list[BytePatch],
    tags: list[int],
    *,
    stop_at: int | None,
    top: bool,
    depth: int,
) -> bool:
    """Walk explicit big endian elements up to ``stop_at`` or an item delimiter.

    Returns False when the bytes could not be walked to the end of this dataset.
    """
    while stop_at is None or f.tell() < stop_at:
        start = f.tell()
        head = f.read(8)
        if len(head) < 8:
            return stop_at is None
        group, element = struct.unpack(">HH", head[:4])
        if (group, element) == _ITEM_END:
            return True
        tag = group << 16 | element
        vr = head[4:6]
        if (top and tag in PIXEL_TAGS) or not (vr.isalpha() and vr.isupper()):
            return top
        if vr in LONG_VRS:
            raw_length = f.read(4)
            if len(raw_length) < 4:
                return False
            (length,) = struct.unpack(">I", raw_length)
        else:
            (length,) = struct.unpack(">H", head[6:8])
        if length != UNDEFINED_LENGTH and vr != b"SQ":
            f.seek(length, 1)
            continue
        if depth >= _MAX_DEPTH:
            return False
        end = f.tell() + length if length != UNDEFINED_LENGTH else None
        if vr == b"UN" and end is None:
            if (close := _implicit_items_end(f, depth + 1)) is None:
                return False
            value = close - (start + 12)
            patches.append(
                BytePatch(offset=start, data=head[:4] + b"OB\0\0" + struct.pack(">I", value))
            )
            tags.append(tag)
            f.seek(close)
        elif vr == b"SQ":
            if not _items(f, patches, tags, stop_at=end, depth=depth + 1):
                return False
        else:
            return False  # an undefined length on another VR: not ours to walk
    return True


def _items(
    f: IO[bytes], patches: list[BytePatch], tags: list[int], *, stop_at: int | None, depth: int
) -> bool:
    """Walk the big endian items of a sequence up to ``stop_at`` or its delimiter."""
    while stop_at is None or f.tell() < stop_at:
        head = f.read(8)
        if len(head) < 8:
            return False
        group, element, length = struct.unpack(">HHI", head)
        if (group, element) == _SEQUENCE_END:
            return True
        if (group, element) != _ITEM:
            return False
        end = f.tell() + length if length != UNDEFINED_LENGTH else None
        if not _elements(f, patches, tags, stop_at=end, top=False, depth=depth + 1):
            return False
        if end is not None:
            f.seek(end)
    return True


def _implicit_items_end(f: IO[bytes], depth: int) -> int | None:
    """The offset after the delimiter of the implicit little endian items at ``f``."""
    while True:
        head = f.read(8)
        if len(head) < 8:
            return None
        group, element, length = struct.unpack("<HHI", head)
        if (group, element) == _SEQUENCE_END:
            return f.tell()
        if (group, element) != _ITEM:
            return None
        if length != UNDEFINED_LENGTH:
            f.seek(length, 1)
        elif not _implicit_item_elements(f, depth + 1):
            return None


def _implicit_item_elements(f: IO[bytes], depth: int) -> bool:
    """Walk an undefined-length implicit little endian item to its delimiter."""
    if depth >= _MAX_DEPTH:
        return False
    while True:
        head = f.read(8)
        if len(head) < 8:
            return False
        group, element, length = struct.unpack("<HHI", head)
        if (group, element) == _ITEM_END:
            return True
        if length == UNDEFINED_LENGTH:
            if _implicit_items_end(f, depth + 1) is None:
                return False
        else:
            f.seek(length, 1)
