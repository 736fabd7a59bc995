"""The LUTs of the Modality LUT and VOI LUT Sequences, read as leniently as DCMTK reads them.

A LUT (PS3.3 C.11.1 Modality LUT, C.11.2.1.1 VOI LUT) maps an input value ``v`` to
``data[v - first]``, clamped at both ends. Archives hold sequences whose item is empty, or
lacks its LUT Descriptor or LUT Data, or whose LUT Data does not hold the number of entries
its descriptor declares. Like DCMTK, an unusable LUT is ignored (the caller falls back to
the next step of the display pipeline) and a LUT of the wrong length is used with the
entries it has; either way the caller learns why, to tell the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue


@dataclass(frozen=True)
class Lut:
    """A LUT of PS3.3 C.11.1 / C.11.2.1.1: ``data[v - first]``, clamped at both ends."""

    first: int
    bits: int
    data: np.ndarray

    def __call__(self, values: np.ndarray) -> np.ndarray:
        index = np.clip(np.rint(values) - self.first, 0, self.data.size - 1).astype(np.intp)
        return np.asarray(self.data[index])


@dataclass(frozen=True, kw_only=True)
class LutReading:
    """The first LUT of a sequence, or why there is none.

    ``lut`` is None when the sequence is absent (``problem`` None too) or unusable
    (``problem`` says why). A usable LUT may still carry a ``problem``: its LUT Data held
    another number of entries than its descriptor declared (the entries present are used),
    or its descriptor's bits per entry were outside 1..16 (the bits of its largest entry are
    used), as DCMTK does both.
    """

    lut: Lut | None
    problem: str | None = None
    single_entry: bool = False
    """The LUT holds one entry: every pixel maps to it (a usable LUT, but no picture)."""


def read_first_lut(ds: Dataset, keyword: str) -> LutReading:
    """The LUT of the first item of ``ds``'s sequence ``keyword`` (ModalityLUTSequence or
    VOILUTSequence).

    The descriptor's first mapped value is signed when the pixel data is (its VR, US or SS,
    may not be in the file); LUT Data in OW is in the file's byte order; 8-bit entries packed
    two per word (an old ACR-NEMA habit) are unpacked.
    """
    if keyword not in ds:
        return LutReading(lut=None)
    items = ds[keyword].value
    if not items:
        return LutReading(lut=None, problem="holds no item")
    item = items[0]
    if len(item) == 0:
        return LutReading(lut=None, problem="has an empty item")
    descriptor = _descriptor(item.get("LUTDescriptor"))
    if descriptor is None:
        return LutReading(lut=None, problem="has no usable LUT Descriptor")
    data = _lut_data(item.get("LUTData"), little=ds.original_encoding[1] is not False)
    if data is None:
        return LutReading(lut=None, problem="has no LUT Data")
    declared, first, bits = descriptor
    declared = declared or 65536  # PS3.3 C.11.1.1.1: 0 means 2^16 entries
    if first > 32767 and int(ds.get("PixelRepresentation", 0) or 0) == 1:
        first -= 65536
    if bits == 8 and data.size * 2 in (declared, declared + 1):
        # An odd number of packed 8-bit entries leaves one pad byte in the last word.
        packed = np.frombuffer(data.astype("<u2").tobytes(), dtype=np.uint8)
        data = packed[:declared].astype(np.int64)
    problems = []
    if data.size != declared:
        # DCMTK's choice: the table is the data that is there.
        problems.append(
            f"has LUT Data of {data.size} entries where its LUT Descriptor declares "
            f"{declared}; the {data.size} entries were used"
        )
    if not 1 <= bits <= 16:
        # Only a VOI LUT's output depends on its entry size (its top value is white).
        used = min(16, max(1, int(data.max(initial=0)).bit_length()))
        if keyword == "VOILUTSequence":
            problems.append(
                f"declares {bits} bits per entry; {used} bits (its largest entry) were used"
            )
        bits = used
    problem = "; ".join(problems) or None
    lut = Lut(first=first, bits=bits, data=data)
    return LutReading(lut=lut, problem=problem, single_entry=data.size == 1)


def _descriptor(value: Any) -> tuple[int, int, int] | None:
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    if len(values) != 3:
        return None
    try:
        entries, first, bits = (int(v) for v in values)
    except (TypeError, ValueError):
        return None
    if entries < 0 or bits < 0:
        return None
    return entries, first, bits


def _lut_data(raw: Any, *, little: bool) -> np.ndarray | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        even = raw[: len(raw) // 2 * 2]
        data = np.frombuffer(even, dtype="<u2" if little else ">u2").astype(np.int64)
    else:
        values = list(raw) if isinstance(raw, MultiValue | list | tuple) else [raw]
        try:
            data = np.asarray(values, dtype=np.int64).ravel()
        except (TypeError, ValueError):
            return None
    return data if data.size else None
