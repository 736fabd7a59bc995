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

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomlens.domain.errors import DicomlensError, ErrorCode

_LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}
)
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
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


@dataclass
class _Stream:
    data: bytes
    little: bool
    implicit: bool

    def u16(self, at: int) -> int:
        return int(struct.unpack_from("<H" if self.little else ">H", self.data, at)[0])

    def u32(self, at: int) -> int:
        return int(struct.unpack_from("<I" if self.little else ">I", self.data, at)[0])

    def tag(self, at: int) -> int:
        return (self.u16(at) << 16) | self.u16(at + 2)


def check_file(source: Path, ds: Dataset) -> None:
    """Raise INVALID_DICOM when ``source`` (parsed as ``ds``) is structurally unsound."""
    problem = stream_problem(source.read_bytes()) or value_problem(ds)
    if problem:
        raise DicomlensError(ErrorCode.INVALID_DICOM, f"the file is corrupted: {problem}")


def stream_problem(data: bytes) -> str | None:
    """The first structural problem of a Part 10 file (or bare dataset), or None."""
    pos = 132 if data[128:132] == b"DICM" else 0
    meta = _Stream(data, little=True, implicit=False)
    syntax = ""
    while pos + 8 <= len(data) and meta.u16(pos) == 0x0002:
        tag = meta.tag(pos)
        header, length = _explicit_header(meta, pos)
        if header is None:
            return f"element {_fmt(tag)} of the file meta group has no valid VR"
        start = pos + header
        if start + length > len(data):
            return f"element {_fmt(tag)} has a length that runs past the end of the file"
        if tag == 0x00020010:
            syntax = data[start : start + length].decode("ascii", "replace").strip(" \x00")
        pos = start + length
    body = data[pos:]
    if syntax in _DEFLATED:
        try:
            body = zlib.decompress(body, -15)
        except zlib.error:
            return "the deflated dataset cannot be inflated"
    # As pydicom does, the first element decides explicit or implicit VR (some files
    # declare one and use the other); a file without a meta group may be big endian.
    implicit = not (len(body) >= 6 and body[4:6].isalpha() and body[4:6].isupper())
    little = syntax != _BIG_ENDIAN
    if not syntax and len(body) >= 2:
        little = body[0] | (body[1] << 8) <= (body[0] << 8) | body[1]
    return _dataset_problem(_Stream(body, little=little, implicit=implicit), 0, len(body), 0)


def _explicit_header(stream: _Stream, pos: int) -> tuple[int | None, int]:
    """(header size, value length) of an explicit-VR element; None for a bad VR."""
    if pos + 8 > len(stream.data):
        return None, 0
    vr = stream.data[pos + 4 : pos + 6]
    if not (vr.isalpha() and vr.isupper()):
        return None, 0
    if vr in _LONG_LENGTH_VRS:
        if pos + 12 > len(stream.data):
            return None, 0
        return 12, stream.u32(pos + 8)
    return 8, stream.u16(pos + 6)


def _dataset_problem(stream: _Stream, pos: int, end: int, depth: int) -> str | None:
    """Walk the elements in ``[pos, end)``; an item delimiter ends an undefined-length item."""
    if depth > _MAX_DEPTH:
        return "sequences are nested too deeply"
    while pos < end:
        if pos + 8 > end:
            if depth == 0 and not stream.data[pos:end].strip(b"\x00"):
                return None  # a few bytes of zero padding after the last element
            return "an element header runs past the end of its container"
        tag = stream.tag(pos)
        if tag in (_ITEM_END, _SEQUENCE_END):
            return None if tag == _ITEM_END else "a sequence delimiter outside a sequence"
        if stream.implicit:
            header, length, vr = 8, stream.u32(pos + 4), b""
        else:
            size, length = _explicit_header(stream, pos)
            if size is None:
                return f"element {_fmt(tag)} has no valid VR"
            header, vr = size, stream.data[pos + 4 : pos + 6]
        start = pos + header
        if length == _UNDEFINED:
            if tag == _PIXEL_DATA:
                result = _fragments(stream, start, end)
            else:
                inner = stream
                if vr == b"UN":  # an undefined-length UN is an implicit VR sequence
                    inner = _Stream(stream.data, little=True, implicit=True)
                result = _sequence(inner, start, end, depth)
            if isinstance(result, str):
                return f"element {_fmt(tag)}: {result}"
            pos = result
            continue
        if start + length > end:
            return f"element {_fmt(tag)} has a length that runs past the end of its container"
        if vr == b"SQ" or (stream.implicit and _is_sequence(tag)):
            result = _sequence(stream, start, start + length, depth)
            if isinstance(result, str):
                return f"element {_fmt(tag)}: {result}"
        pos = start + length
    return None


def _sequence(stream: _Stream, pos: int, end: int, depth: int) -> int | str:
    """Walk a sequence's items; return the position after it, or a problem."""
    while pos < end:
        if pos + 8 > end:
            return "an item header runs past the end of the sequence"
        tag, length = stream.tag(pos), stream.u32(pos + 4)
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            return "a sequence holds something other than items"
        if length == _UNDEFINED:
            problem = _dataset_problem(stream, pos, end, depth + 1)
            if problem:
                return problem
            pos = _after_item_end(stream, pos, end)
            if pos < 0:
                return "an item has no end"
            continue
        if pos + length > end:
            return "an item's length runs past the end of the sequence"
        problem = _dataset_problem(stream, pos, pos + length, depth + 1)
        if problem:
            return problem
        pos += length
    return pos if pos == end else "a sequence runs past its container"


def _after_item_end(stream: _Stream, pos: int, end: int) -> int:
    """The position after the item delimiter that ends the item starting at ``pos``."""
    while pos + 8 <= end:
        tag = stream.tag(pos)
        if tag == _ITEM_END:
            return pos + 8
        if stream.implicit:
            header, length = 8, stream.u32(pos + 4)
        else:
            size, length = _explicit_header(stream, pos)
            if size is None:
                return -1
            header = size
        pos += header
        if length == _UNDEFINED:
            vr = stream.data[pos - header + 4 : pos - header + 6]
            inner = stream
            if vr == b"UN" and not stream.implicit:
                inner = _Stream(stream.data, little=True, implicit=True)
            skipped = (
                _fragments(stream, pos, end)
                if tag == _PIXEL_DATA
                else _sequence(inner, pos, end, 0)
            )
            if isinstance(skipped, str):
                return -1
            pos = skipped
        else:
            pos += length
    return -1


def _fragments(stream: _Stream, pos: int, end: int) -> int | str:
    """Walk encapsulated pixel data (PS3.5 A.4); return the position after it."""
    while pos + 8 <= end:
        tag, length = stream.tag(pos), stream.u32(pos + 4)
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM or length == _UNDEFINED:
            return "encapsulated pixel data holds something other than fragments"
        if pos + length > end:
            return "a pixel data fragment runs past the end of the file"
        pos += length
    return "encapsulated pixel data has no end"


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
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
