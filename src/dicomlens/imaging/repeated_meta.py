"""Find group 0002 elements that a dataset repeats right after its file meta group.

Some writers copy the file meta group into the dataset. pydicom reads every group 0002
element before the dataset as file meta, the last value winning, so a repeated Transfer
Syntax UID overrides the real one and the dataset is parsed and decoded in the wrong
syntax. This module finds the repeated elements from the bytes and returns patches of the
same length that relabel them group 0003, which pydicom then reads as dataset elements.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dicomlens.imaging.pixel_stream import LONG_VRS, UNDEFINED_LENGTH, BytePatch


@dataclass(frozen=True, kw_only=True)
class RepeatedMeta:
    """Group 0002 elements that the dataset repeats right after the file meta group."""

    patches: tuple[BytePatch, ...]
    """Patches that relabel them group 0003, so that pydicom reads them as dataset
    elements instead of letting them override the file meta."""
    transfer_syntax: str | None
    """The Transfer Syntax UID they name, if they hold one."""


def repeated_meta(path: Path, tsyntax: str) -> RepeatedMeta:
    """The group 0002 elements that follow the file meta group, in the dataset's encoding.

    The file meta group ends where its group length (0002,0000) says (PS3.10 7.1);
    whatever group 0002 follows belongs to the dataset, encoded as ``tsyntax`` says.
    Without a group length the end of the file meta is unknown, and nothing is found.
    """
    implicit = tsyntax == "1.2.840.10008.1.2"
    big = tsyntax == "1.2.840.10008.1.2.2"
    if big:  # pydicom reads group 0002 as little endian: (0200,xxxx) is not absorbed
        return RepeatedMeta(patches=(), transfer_syntax=None)
    with path.open("rb") as f:
        f.seek(128 if f.read(132)[128:132] == b"DICM" else 0)
        if f.read(4) != b"DICM":
            f.seek(f.tell() - 4)
        head = f.read(12)
        if len(head) < 12 or head[:6] != b"\x02\x00\x00\x00UL":
            return RepeatedMeta(patches=(), transfer_syntax=None)
        f.seek(f.tell() + struct.unpack("<I", head[8:12])[0])
        return _walk_repeated(f, implicit=implicit)


def _walk_repeated(f: IO[bytes], *, implicit: bool) -> RepeatedMeta:
    patches: list[BytePatch] = []
    found = None
    while True:
        start = f.tell()
        head = f.read(8)
        if len(head) < 8 or struct.unpack("<H", head[:2])[0] != 0x0002:
            return RepeatedMeta(patches=tuple(patches), transfer_syntax=found)
        if implicit:
            (length,) = struct.unpack("<I", head[4:8])
        elif head[4:6] in LONG_VRS:
            (length,) = struct.unpack("<I", f.read(4).ljust(4, b"\0"))
        else:
            (length,) = struct.unpack("<H", head[6:8])
        if length == UNDEFINED_LENGTH:
            return RepeatedMeta(patches=tuple(patches), transfer_syntax=found)
        value = f.read(length)
        if struct.unpack("<H", head[2:4])[0] == 0x0010:
            found = value.rstrip(b"\0 ").decode("ascii", "replace")
        patches.append(BytePatch(offset=start, data=b"\x03\x00"))
