"""WADO-RS bulk data: one element's value by its tag path (PS3.18 10.4.1.1.5, 8.7.3.3).

A tag path is a top-level tag (``7FE00010``) or a path through sequences
(``00540016/0/00181072``: tag, item index from 0, tag ...), as the metadata's BulkDataURIs
name them. Values come back as little-endian bytes (PS3.18 8.7.3.3.1). Pixel Data:
native, the stored value (little endian); encapsulated, the compressed octet stream
without item headers or offset table (PS3.18 8.7.3.3.2): every fragment concatenated,
which for a multi-frame instance is every frame's codestream in order (ask ``/frames``
for one frame at a time).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from dicomlens.dicomweb.frames import OCTET_STREAM, frame_layout, read_frames
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.dicom_dataset import parse_dataset
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.validation import check_file_size

PIXEL_DATA = "7FE00010"
MAX_BULK_BYTES = 512 * 1024**2
_NUMERIC = {"US": "<u2", "SS": "<i2", "UL": "<u4", "SL": "<i4", "FL": "<f4", "FD": "<f8"}
_WORD = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}

__all__ = ["OCTET_STREAM", "parse_tag_path", "read_bulk"]


def parse_tag_path(tagpath: str) -> tuple[tuple[int, int | None], ...]:
    """``tagpath`` as (tag, item index) steps; the last step has no index.

    Raises VALIDATION_ERROR for anything but eight-hex-digit tags alternating with item
    indexes from 0.
    """
    pieces = tagpath.strip("/").split("/")
    if len(pieces) % 2 == 0 or len(pieces) > 31:
        raise _bad(tagpath)
    steps: list[tuple[int, int | None]] = []
    for k in range(0, len(pieces), 2):
        tag, index = pieces[k], pieces[k + 1] if k + 1 < len(pieces) else None
        if len(tag) != 8 or any(c not in "0123456789abcdefABCDEF" for c in tag):
            raise _bad(tagpath)
        if index is not None and not (index.isascii() and index.isdigit() and len(index) < 7):
            raise _bad(tagpath)
        steps.append((int(tag, 16), int(index) if index is not None else None))
    return tuple(steps)


def read_bulk(
    path: Path, tagpath: str, *, limits: ImagingLimits, max_bytes: int = MAX_BULK_BYTES
) -> bytes:
    """The value of the element at ``tagpath`` in the DICOM file at ``path`` (see module).

    Raises VALIDATION_ERROR for a malformed path, NOT_FOUND for an element (or item) the
    file does not have, TOO_LARGE beyond ``max_bytes``, and the reader's errors.
    """
    steps = parse_tag_path(tagpath)
    check_file_size(path.stat().st_size, limits)
    if len(steps) == 1 and steps[0][0] == 0x7FE00010:
        return _pixel_data(path, limits, max_bytes)
    ds = parse_dataset(path, "dataset", stop_before_pixels=True, force=True)
    little = ds.original_encoding[1] is not False
    element = _element(ds, steps, tagpath)
    return _value_bytes(element, little=little, ds=ds, max_bytes=max_bytes)


def _pixel_data(path: Path, limits: ImagingLimits, max_bytes: int) -> bytes:
    layout = frame_layout(path, limits)
    numbers = range(1, layout.frame_count + 1)
    if layout.fragments or not layout.stored_readable:
        answer = read_frames(path, numbers, transfer_syntax="*", limits=limits, max_bytes=max_bytes)
        return b"".join(frame.data for frame in answer.frames)
    total = (layout.frame_bits * layout.frame_count + 7) // 8
    if total > max_bytes:
        raise DicomlensError(ErrorCode.TOO_LARGE, f"the value exceeds {max_bytes} bytes")
    with path.open("rb") as file:
        file.seek(layout.value_offset)
        return file.read(total)


def _element(ds: Dataset, steps: tuple[tuple[int, int | None], ...], tagpath: str) -> DataElement:
    current = ds
    for tag, index in steps:
        if Tag(tag) not in current:
            raise DicomlensError(ErrorCode.NOT_FOUND, f"the instance has no element {tagpath}")
        element = current[Tag(tag)]
        if index is None:
            return element
        items = element.value if element.VR == "SQ" else None
        if not items or index >= len(items):
            raise DicomlensError(ErrorCode.NOT_FOUND, f"the instance has no element {tagpath}")
        current = items[index]
    raise _bad(tagpath)  # pragma: no cover - the last step has no index


def _value_bytes(element: DataElement, *, little: bool, ds: Dataset, max_bytes: int) -> bytes:
    value, vr = element.value, element.VR
    if value is None:
        return b""
    if isinstance(value, bytes):
        data = value
        if not little and vr in _WORD:
            data = np.frombuffer(data, dtype=f">u{_WORD[vr]}").astype(f"<u{_WORD[vr]}").tobytes()
    elif vr in _NUMERIC:
        values = list(value) if isinstance(value, MultiValue | list) else [value]
        data = np.asarray(values, dtype=_NUMERIC[vr]).tobytes()
    elif isinstance(value, str):
        data = value.encode(_python_charset(ds), errors="replace")
    elif vr in ("DS", "IS"):  # decimal strings (Contour Data ...): the value as written
        values = list(value) if isinstance(value, MultiValue | list) else [value]
        data = "\\".join(str(v) for v in values).encode("ascii", errors="replace")
    else:
        raise DicomlensError(ErrorCode.VALIDATION_ERROR, f"an element of VR {vr} is not bulk data")
    if len(data) > max_bytes:
        raise DicomlensError(ErrorCode.TOO_LARGE, f"the value exceeds {max_bytes} bytes")
    return data


def _python_charset(ds: Dataset) -> str:
    from pydicom.charset import convert_encodings  # noqa: PLC0415

    charset = ds.get("SpecificCharacterSet", "ISO_IR 6")
    names = list(charset) if isinstance(charset, MultiValue) else [charset]
    return convert_encodings([str(n) for n in names if n] or ["ISO_IR 6"])[-1]


def _bad(tagpath: str) -> DicomlensError:
    return DicomlensError(
        ErrorCode.VALIDATION_ERROR,
        f"a bulk data path is eight-hex-digit tags separated by item indexes: {tagpath[:80]!r}",
    )
