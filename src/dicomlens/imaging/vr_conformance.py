"""Does one value conform to its VR (PS3.5 6.2, Table 6.2-1)? Strict rules for shown values.

The metadata summary is shown to anyone who can see a job; a value that breaks its VR's
maximum length or character repertoire is not what it claims to be (a misread element, a
hostile file) and is left out, never shown raw. These are the standard's rules for values
stored in an instance (not the wider query forms of PS3.4 C.2.2.2, such as date ranges).
"""

from __future__ import annotations

import math
import re

MAX_CHARS = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 10,  # 8, or 10 in the ACR-NEMA form yyyy.mm.dd that readers still accept
    "DS": 16,
    "DT": 26,
    "IS": 12,
    "LO": 64,
    "LT": 10240,
    "PN": 64,  # per component group
    "SH": 16,
    "ST": 1024,
    "TM": 16,
    "UI": 64,
}
"""The most characters one value of each text VR may have (PS3.5 Table 6.2-1)."""

_DECIMAL = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_REPERTOIRE = {
    "AE": re.compile(r"[\x20-\x5b\x5d-\x7e]*"),
    "AS": re.compile(r"[0-9]{3}[DWMY]"),
    "CS": re.compile(r"[A-Z0-9 _]*"),
    "DA": re.compile(r"[0-9]{8}|[0-9]{4}\.[0-9]{2}\.[0-9]{2}"),
    "DS": re.compile(rf" *{_DECIMAL} *"),
    "DT": re.compile(r"[0-9]{4,14}(?:\.[0-9]{1,6})?(?:[+-][0-9]{4})?"),
    "IS": re.compile(r" *[+-]?[0-9]+ *"),
    "TM": re.compile(r"[0-9]{2}(?::?[0-9]{2}(?::?[0-9]{2}(?:\.[0-9]{1,6})?)?)?"),
    "UI": re.compile(r"[0-9]+(?:\.[0-9]+)*"),
}
# Control characters no text VR allows; ESC (0x1b) introduces ISO 2022 code extensions.
_CONTROL = re.compile(r"[\x00-\x1a\x1c-\x1f\x7f]")
# LT, ST and UT may also hold TAB, LF, FF and CR (PS3.5 6.1.3).
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
_IS_RANGE = (-(2**31), 2**31 - 1)


def conforms(vr: str, value: str) -> bool:
    """Whether ``value`` (one value, without the backslash of a multi-valued element) obeys
    ``vr``'s maximum length and character repertoire; padding is not counted."""
    text = value.strip(" \x00")  # padding (PS3.5 6.2), which some writers make NUL
    if not text:
        return True
    if vr == "PN":
        if any(len(group) > MAX_CHARS["PN"] for group in text.split("=")):
            return False
    elif len(text) > MAX_CHARS.get(vr, len(text)):
        return False
    if "\\" in text:
        return False
    pattern = _REPERTOIRE.get(vr)
    if pattern is not None and not pattern.fullmatch(text):
        return False
    if vr == "IS" and not _IS_RANGE[0] <= int(text) <= _IS_RANGE[1]:
        return False
    if vr == "DS" and not math.isfinite(float(text)):
        return False
    control = _TEXT_CONTROL if vr in ("LT", "ST", "UT") else _CONTROL
    return not control.search(text)
