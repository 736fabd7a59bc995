"""Is a DICOM file's element structure sound, and do its values obey their VRs?

Two checks, for code that must not act on a misread file (de-identification above all:
an element whose length runs past its container swallows the elements after it, so a
name can end up inside an attribute that is kept):

* :func:`stream_problem` walks the raw element stream (PS3.5 7.1: tag, VR, length, value)
  of the file meta group and the dataset, into sequences and encapsulated pixel data, and
  reports the first element, item or fragment whose length runs past the end of its
  container (the file, the enclosing sequence or item);
* :func:`value_problem` checks every parsed text value against its VR's maximum length and
  character repertoire (PS3.5 Table 6.2-1), where a breach means the value is not what it
  claims to be (a 150 KB Modality, letters in a number, control characters in a code).

Messages name the tag and the VR, never a value: they may be shown to anyone.
"""

from __future__ import annotations

import mmap
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.validation import check_single_numbers

KNOWN_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL"
    b" UN UR US UT UV".split()
)
"""The VRs of PS3.5 Table 6.2-1: an explicit VR element names one of them."""

Buffer = bytes | bytearray | mmap.mmap
"""The bytes of a file: read, or mapped."""
_LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
# Explicit VRs that may have an undefined length (PS3.5 7.1.1, 7.5.1, A.4).
_UNDEFINED_ALLOWED = frozenset({b"SQ", b"UN", b"OB", b"OW"})
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_GROUP_LENGTH, _TRANSFER_SYNTAX = 0x00020000, 0x00020010
_PIXEL_DATA = 0x7FE00010
_DELIMITER_BYTES = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
# Float, double float and plain pixel data: where a header-only walk stops, as pydicom's
# ``stop_before_pixels`` does.
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, _PIXEL_DATA})
_MAX_DEPTH = 64

_IMPLICIT_LITTLE = "1.2.840.10008.1.2"
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")

# PS3.5 Table 6.2-1: the most characters one value may have (PN: per component group).
MAX_LENGTH = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 18,
    "DS": 16,
    "DT": 54,
    "IS": 12,
    "LO": 64,
    "PN": 64,
    "SH": 16,
    "ST": 1024,
    "TM": 28,
    "UI": 64,
    "LT": 10240,
}
# Character repertoires, with the trailing padding and range/multi-value forms files use.
_REPERTOIRE = {
    "AE": re.compile(r"[\x20-\x5b\x5d-\x7e]*"),
    "AS": re.compile(r"[0-9DWMY ]*"),
    # The standard's CS is upper case, digits, space and underscore; devices also write
    # lower case and punctuation, which is harmless: what must not be there is a control
    # character, a byte beyond ASCII or a backslash inside one value.
    "CS": re.compile(r"[\x20-\x5b\x5d-\x7e]*"),
    "DA": re.compile(r"[0-9\- .]*"),
    "DS": re.compile(r"[0-9+\-.eE ]*"),
    "DT": re.compile(r"[0-9+\-. ]*"),
    "IS": re.compile(r"[0-9+\- ]*"),
    "TM": re.compile(r"[0-9:.\- ]*"),
    "UI": re.compile(r"[0-9. \x00]*"),
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")


class _CorruptError(Exception):
    """The walk found an element, item or fragment that does not fit its container."""


@dataclass(frozen=True, kw_only=True)
class StreamWalk:
    """What walking a file's element stream found."""

    problem: str | None
    """The first structural problem, naming tags only; None when the stream is sound."""
    pixel_data_at: int | None = None
    """Where the top-level pixel data element starts (offset in the file), when a
    header-only walk stopped there."""


class _Walker:
    """Walks elements by their lengths (PS3.5 7.1, 7.5, A.4), never past a container."""

    def __init__(
        self, data: Buffer, *, little: bool, implicit: bool, header_only: bool = False
    ) -> None:
        self.data = data
        self.little = little
        self.implicit = implicit
        self.header_only = header_only
        self.pixel_data_at: int | None = None

    def u16(self, at: int) -> int:
        return int(struct.unpack_from("<H" if self.little else ">H", self.data, at)[0])

    def u32(self, at: int) -> int:
        return int(struct.unpack_from("<I" if self.little else ">I", self.data, at)[0])

    def tag(self, at: int) -> int:
        return (self.u16(at) << 16) | self.u16(at + 2)

    def header(self, pos: int, end: int, tag: int) -> tuple[int, int, bytes]:
        """(header size, value length, VR) of the element at ``pos``; VR is b"" when implicit."""
        if self.implicit:
            return 8, self.u32(pos + 4), b""
        vr = bytes(self.data[pos + 4 : pos + 6])
        if vr not in KNOWN_VRS:
            raise _CorruptError(f"element {_fmt(tag)} has no valid VR")
        if vr in _LONG_LENGTH_VRS:
            if pos + 12 > end:
                raise _CorruptError(f"the header of element {_fmt(tag)} runs past its container")
            return 12, self.u32(pos + 8), vr
        return 8, self.u16(pos + 6), vr

    def elements(self, pos: int, end: int, depth: int, *, open_item: bool = False) -> int:
        """Walk the elements in ``[pos, end)`` in increasing tag order; return where they end.

        An ``open_item`` (an undefined-length item) ends at its item delimiter, which must
        come before ``end``.
        """
        if depth > _MAX_DEPTH:
            raise _CorruptError("sequences are nested too deeply")
        previous = -1
        while pos < end:
            if pos + 8 > end:
                if depth == 0 and not bytes(self.data[pos:end]).strip(b"\x00"):
                    return end  # a few bytes of zero padding after the last element
                raise _CorruptError(
                    f"an element header after {_fmt(previous)} runs past its container"
                )
            tag = self.tag(pos)
            if tag == _ITEM_END and depth > 0 and self.u32(pos + 4) == 0:
                return pos + 8  # ends an undefined-length item; a defined one ends anyway
            if tag in (_ITEM, _ITEM_END, _SEQUENCE_END):
                raise _CorruptError(f"a delimiter after element {_fmt(previous)} is out of place")
            if tag <= previous:
                raise _CorruptError(f"the element after {_fmt(previous)} is out of tag order")
            if not self.implicit and bytes(self.data[pos + 4 : pos + 6]) not in KNOWN_VRS:
                raise _CorruptError(f"the element after {_fmt(previous)} has no valid VR")
            if depth == 0 and self.header_only and tag in _PIXEL_TAGS:
                self.pixel_data_at = pos
                return pos
            previous = tag
            pos = self.element(pos, end, depth, tag)
        if open_item:
            raise _CorruptError("an undefined-length item has no item delimiter")
        return pos

    def element(self, pos: int, end: int, depth: int, tag: int) -> int:
        """Walk one element; return the position after it."""
        size, length, vr = self.header(pos, end, tag)
        start = pos + size
        if length == _UNDEFINED:
            if vr and vr not in _UNDEFINED_ALLOWED:
                raise _CorruptError(f"element {_fmt(tag)} ({vr.decode()}) has an undefined length")
            try:
                if tag == _PIXEL_DATA:
                    return self.fragments(start, end)
                if vr == b"UN":  # an undefined-length UN is an implicit VR sequence
                    inner = _Walker(self.data, little=True, implicit=True)
                    return inner.items(start, end, depth, defined=False)
                return self.items(start, end, depth, defined=False)
            except _CorruptError as exc:
                raise _CorruptError(f"element {_fmt(tag)}: {exc}") from None
        if start + length > end:
            where = "the file" if end == len(self.data) else "its container"
            raise _CorruptError(
                f"element {_fmt(tag)} has a length that runs past the end of {where}"
            )
        if vr == b"SQ" or (self.implicit and _is_sequence(tag)):
            try:
                self.items(start, start + length, depth, defined=True)
            except _CorruptError as exc:
                raise _CorruptError(f"element {_fmt(tag)}: {exc}") from None
        return start + length

    def items(self, pos: int, end: int, depth: int, *, defined: bool) -> int:
        """Walk a sequence's items; return the position after the sequence."""
        while pos < end:
            if pos + 8 > end:
                raise _CorruptError("an item header runs past the end of the sequence")
            tag, length = self.tag(pos), self.u32(pos + 4)
            pos += 8
            if tag == _SEQUENCE_END and length == 0:
                return pos
            if tag != _ITEM:
                raise _CorruptError("a sequence holds something other than items")
            if length == _UNDEFINED:
                pos = self.elements(pos, end, depth + 1, open_item=True)
                continue
            if pos + length > end:
                raise _CorruptError("an item's length runs past the end of the sequence")
            self.elements(pos, pos + length, depth + 1)
            pos += length
        if not defined:
            raise _CorruptError("an undefined-length sequence has no sequence delimiter")
        return pos

    def fragments(self, pos: int, end: int) -> int:
        """Walk encapsulated pixel data (PS3.5 A.4); return the position after it."""
        while pos + 8 <= end:
            tag, length = self.tag(pos), self.u32(pos + 4)
            pos += 8
            if tag == _SEQUENCE_END and length == 0:
                return pos
            if tag != _ITEM or length == _UNDEFINED:
                raise _CorruptError("encapsulated pixel data holds something other than fragments")
            if pos + length > end:
                raise _CorruptError("a pixel data fragment runs past the end of the file")
            pos += length
        raise _CorruptError("encapsulated pixel data has no end")


@dataclass(frozen=True, kw_only=True)
class FragmentWalk:
    """What walking encapsulated pixel data's items (PS3.5 A.4) by their lengths found."""

    closed: bool = False
    """The items end with the sequence delimiter."""
    overrun: bool = False
    """An item (or its header) runs past the end of the file: the file was cut."""
    foreign: bool = False
    """Something other than an item or the delimiter sits where an item must start."""


def walk_fragments(source: Path, value_offset: int) -> FragmentWalk:
    """Walk the items of the encapsulated pixel data whose value starts at ``value_offset``.

    Only item headers are read. The walk ends at the sequence delimiter, at the end of the
    file (neither ``closed`` nor ``overrun`` when the last item ends exactly there), or at
    the first item that does not fit.
    """
    size = source.stat().st_size
    pos = value_offset
    with source.open("rb") as f:
        while pos < size:
            f.seek(pos)
            head = f.read(8)
            if len(head) < 8:
                # The start of the delimiter only (the file lost its last bytes) is a
                # missing delimiter; the start of another item is a cut item.
                cut_delimiter = _DELIMITER_BYTES.startswith(head)
                return FragmentWalk() if cut_delimiter else FragmentWalk(overrun=True)
            tag = int.from_bytes(head[0:2], "little") << 16 | int.from_bytes(head[2:4], "little")
            length = int.from_bytes(head[4:8], "little")
            if tag == _SEQUENCE_END and length == 0:
                return FragmentWalk(closed=True)
            if tag != _ITEM or length == _UNDEFINED:
                return FragmentWalk(foreign=True)
            if pos + 8 + length > size:
                return FragmentWalk(overrun=True)
            pos += 8 + length
    return FragmentWalk()


def check_file(source: Path, ds: Dataset) -> None:
    """Raise INVALID_DICOM when ``source`` (parsed as ``ds``) is structurally unsound, an
    Image Pixel Module number has several values, or a parsed value breaks its VR's rules
    (the whole file is walked, pixel data too)."""
    check_structure(source)
    check_single_numbers(ds)
    problem = value_problem(ds)
    if problem:
        raise DicomlensError(ErrorCode.INVALID_DICOM, f"the file is corrupted: {problem}")


def check_structure(source: Path, *, header_only: bool = False) -> StreamWalk:
    """Walk ``source``'s element stream; raise INVALID_DICOM naming the first problem.

    The file is mapped, not read: only the element headers are touched, so a 1 GB file
    costs no memory. ``header_only`` stops at the top-level pixel data element, whose
    value the pixel-data checks judge (a short one is TRUNCATED_PIXEL_DATA).
    """
    with source.open("rb") as f:
        if source.stat().st_size == 0:
            walk = walk_stream(b"", header_only=header_only)
        else:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                walk = walk_stream(data, header_only=header_only)
    if walk.problem:
        raise DicomlensError(ErrorCode.INVALID_DICOM, f"the file is corrupted: {walk.problem}")
    return walk


def stream_problem(data: Buffer, *, header_only: bool = False) -> str | None:
    """The first structural problem of a Part 10 file (or bare dataset), or None."""
    return walk_stream(data, header_only=header_only).problem


def walk_stream(data: Buffer, *, header_only: bool = False) -> StreamWalk:
    """Walk the file meta group, then the dataset, of a Part 10 file (or bare dataset).

    The preamble may be missing ("DICM" first, or no prefix at all). Every defined length
    must end inside its container (the file, the sequence, the item); every tag must follow
    a smaller one in its dataset; an explicit VR must be one of PS3.5's.
    """
    pos = 132 if bytes(data[128:132]) == b"DICM" else (4 if bytes(data[:4]) == b"DICM" else 0)
    try:
        pos, syntax = _file_meta(data, pos)
        if syntax in _DEFLATED:
            try:
                data, pos = zlib.decompress(bytes(data[pos:]), -15), 0
            except zlib.error:
                return StreamWalk(problem="the deflated dataset cannot be inflated")
        walker = _Walker(
            data,
            little=_is_little_endian(data, pos, syntax),
            implicit=not _starts_explicit(data, pos),
            header_only=header_only and syntax not in _DEFLATED,
        )
        walker.elements(pos, len(data), 0)
    except _CorruptError as exc:
        return StreamWalk(problem=str(exc))
    return StreamWalk(problem=None, pixel_data_at=walker.pixel_data_at)


def _file_meta(data: Buffer, pos: int) -> tuple[int, str]:
    """Walk the file meta group (explicit VR little endian, PS3.10 7.1); return where it
    ends and the transfer syntax it names.

    The group ends where its group length says; without one, at the first element of
    another group. Group 0002 after the group length belongs to the dataset.
    """
    meta = _Walker(data, little=True, implicit=False)
    syntax, group_end, size = "", None, len(data)
    while pos + 8 <= size and meta.u16(pos) == 0x0002:
        if group_end is not None and pos >= group_end:
            break
        tag = meta.tag(pos)
        header, length, _ = meta.header(pos, size, tag)
        start = pos + header
        if length == _UNDEFINED or start + length > size:
            raise _CorruptError(
                f"element {_fmt(tag)} has a length that runs past the end of the file"
            )
        if tag == _GROUP_LENGTH and length == 4:
            group_end = start + 4 + meta.u32(start)
        elif tag == _TRANSFER_SYNTAX and not syntax:
            syntax = bytes(data[start : start + length]).decode("ascii", "replace").strip(" \x00")
        pos = start + length
    if group_end is not None and pos < group_end:
        raise _CorruptError("the file meta group ends before its group length (0002,0000) says")
    return pos, syntax


def _starts_explicit(data: Buffer, pos: int) -> bool:
    """As pydicom does, the first element decides explicit or implicit VR (some files
    declare one and use the other)."""
    return bytes(data[pos + 4 : pos + 6]) in KNOWN_VRS


def _is_little_endian(data: Buffer, pos: int, syntax: str) -> bool:
    """Little endian unless the syntax says big; without one, the first group decides."""
    if syntax:
        return syntax != _BIG_ENDIAN
    if pos + 2 > len(data):
        return True
    first, second = data[pos], data[pos + 1]
    return first | (second << 8) <= (first << 8) | second


def _is_sequence(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


def value_problem(ds: Dataset) -> str | None:
    """The first parsed value that breaks its VR's length or repertoire rules, or None."""
    meta = getattr(ds, "file_meta", None)
    elements = list(meta.iterall()) if meta is not None else []
    for elem in [*elements, *ds.iterall()]:
        vr = elem.VR
        if vr not in MAX_LENGTH and vr not in ("UC", "UT", "UR"):
            continue
        value = elem.value
        if value is None or isinstance(value, bytes):
            continue
        values = value if isinstance(value, list | tuple | MultiValue) else [value]
        for item in values:
            problem = _one_value_problem(vr, item)
            if problem:
                return f"element {_fmt(int(elem.tag))} ({vr}) {problem}"
    return None


def _one_value_problem(vr: str, value: object) -> str | None:
    if vr == "PN":
        text = str(value)
        groups = text.split("=")
        if any(len(group) > MAX_LENGTH["PN"] for group in groups):
            return "is longer than its VR allows"
        return "holds control characters" if _CONTROL.search(text) else None
    if vr in ("DS", "IS") and not isinstance(value, str):
        text = getattr(value, "original_string", None) or str(value)
    else:
        text = str(value)
    limit = MAX_LENGTH.get(vr)
    if limit is not None and len(text.strip(" \x00")) > limit:
        return "is longer than its VR allows"
    pattern = _REPERTOIRE.get(vr)
    if pattern is not None and not pattern.fullmatch(text):
        return "holds characters its VR does not allow"
    if vr not in ("LT", "ST", "UT", "UC") and _CONTROL.search(text):
        return "holds control characters"
    return None


def _fmt(tag: int) -> str:
    if tag < 0:
        return "the start of the dataset"
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
