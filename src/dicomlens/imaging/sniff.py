"""Detect what a file is from its first bytes, never from its name."""

from __future__ import annotations

import struct
from enum import StrEnum

from dicomlens.domain.errors import DicomlensError, ErrorCode


class FileKind(StrEnum):
    """The kinds of file dicomlens reads."""

    DICOM = "dicom"
    DICOM_NO_PREAMBLE = "dicom-no-preamble"
    PNG = "png"
    JPEG = "jpeg"


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
# Groups a raw (preamble-less) DICOM stream may start with: file meta, or a dataset
# written without meta information (group 0008 in practice).
_FIRST_GROUPS = (0x0002, 0x0008)
_VR_NAMES = (
    "AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL "
    "UN UR US UT UV"
)
_VRS = frozenset(_VR_NAMES.encode().split())


def sniff_bytes(head: bytes) -> FileKind:
    """Classify a file from (at least) its first 132 bytes.

    Raises ``DicomlensError(NOT_AN_IMAGE)`` for anything else, including an empty file.
    """
    if not head:
        raise DicomlensError(ErrorCode.NOT_AN_IMAGE, "the file is empty")
    if len(head) >= 132 and head[128:132] == b"DICM":
        return FileKind.DICOM
    if head.startswith(_PNG_MAGIC):
        return FileKind.PNG
    if head.startswith(_JPEG_MAGIC):
        return FileKind.JPEG
    if head.startswith(b"DICM") or _looks_like_raw_dataset(head):
        return FileKind.DICOM_NO_PREAMBLE
    raise DicomlensError(
        ErrorCode.NOT_AN_IMAGE,
        "the file is neither DICOM (Part 10) nor a PNG or JPEG image",
    )


def _looks_like_raw_dataset(head: bytes) -> bool:
    if len(head) < 8:
        return False
    big_group, big_element = struct.unpack(">HH", head[:4])
    if big_group in _FIRST_GROUPS and big_element <= 0x0020 and head[4:6] in _VRS:
        return True  # explicit VR big endian without meta information
    group, element = struct.unpack("<HH", head[:4])
    if group not in _FIRST_GROUPS or element > 0x0020:
        return False
    if head[4:6] in _VRS:  # explicit VR little endian
        return True
    (length,) = struct.unpack("<I", head[4:8])  # implicit VR: a plausible element length
    return bool(length < 1024)
