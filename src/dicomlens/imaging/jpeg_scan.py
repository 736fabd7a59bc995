"""Repair the scan-header fields that a JPEG process fixes (ISO 10918-1 B.2.3).

Some encoders write a sequential or lossless scan header whose spectral selection or
successive approximation fields hold other values than the process allows. IJG-based
readers (DCMTK) warn and decode; libjpeg refuses. Only the fields the process fixes are
set, on a copy of the codestream: for a sequential DCT scan Ss=0, Se=63, Ah=Al=0; for a
lossless scan Se=0 and Ah=0 (Ss is the predictor and Al the point transform, which carry
meaning and are kept). Progressive scans, whose fields vary by design, are left alone.
"""

from __future__ import annotations

_SEQUENTIAL = frozenset({0xC0, 0xC1, 0xC5, 0xC9, 0xCD})
_LOSSLESS = frozenset({0xC3, 0xC7, 0xCB, 0xCF})
_SOF = _SEQUENTIAL | _LOSSLESS | frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_SOS = 0xDA
_EOI = 0xD9
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length


def repair_scan_headers(codestream: bytes) -> bytes | None:
    """A copy of ``codestream`` with the fixed scan-header fields set, or None if unchanged.

    Also None when the codestream cannot be walked (then there is nothing safe to repair).
    """
    data = bytearray(codestream)
    if data[:2] != b"\xff\xd8":
        return None
    position, frame, changed = 2, 0, False
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            position += 2
            continue
        length = data[position + 2] << 8 | data[position + 3]
        if length < 2 or position + 2 + length > len(data):
            return None
        if marker in _SOF:
            frame = marker
        elif marker == _SOS:
            changed |= _repair_scan(data, position + 4, length - 2, frame)
            position = _after_entropy_coded_data(data, position + 2 + length)
            continue
        position += 2 + length
    return bytes(data) if changed else None


def _repair_scan(data: bytearray, start: int, size: int, frame: int) -> bool:
    """Set the fixed fields of the scan header whose parameters start at ``start``."""
    if size < 1:
        return False
    components = data[start]
    fields = start + 1 + 2 * components
    if 1 + 2 * components + 3 != size:
        return False
    ss, se, approximation = data[fields], data[fields + 1], data[fields + 2]
    if frame in _SEQUENTIAL:
        wanted = (0, 63, 0)
    elif frame in _LOSSLESS:
        wanted = (ss, 0, approximation & 0x0F)
    else:
        return False
    if (ss, se, approximation) == wanted:
        return False
    data[fields], data[fields + 1], data[fields + 2] = wanted
    return True


def _after_entropy_coded_data(data: bytearray, position: int) -> int:
    """The offset of the first marker after the entropy-coded segment at ``position``."""
    end = len(data)
    while position + 1 < end:
        if data[position] == 0xFF:
            following = data[position + 1]
            if following != 0x00 and not 0xD0 <= following <= 0xD7 and following != 0xFF:
                return position
        position += 1
    return end
