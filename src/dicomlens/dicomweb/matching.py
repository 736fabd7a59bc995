"""QIDO-RS attribute matching (PS3.18 10.6.1.2-10.6.1.3, PS3.4 C.2.2.2) over DICOM JSON rows.

One matcher for every index adapter: a row is a DICOM JSON data set, a filter an
:class:`~dicomlens.dicomweb.model.AttributeFilter` as :func:`dicomlens.dicomweb.qido.parse_qido`
made it. The rules, per filter value:

- **Universal** (C.2.2.2.3): an empty value, or ``*`` where wildcards apply, matches every
  row, with or without the attribute.
- **Multiple values** (C.2.2.2.8; for UI the UID list of C.2.2.2.2): a value with
  backslashes (other than for LT, ST, UT, UR, where a backslash is text) matches when any of
  its values does.
- **Multi-valued attributes**: a row matches when any of its values matches
  (``ModalitiesInStudy=CT`` matches ``["CT", "SR"]``). A row without the attribute, or
  with it empty, matches no non-universal value.
- **Single value** (C.2.2.2.1): exact and case-sensitive; leading and trailing spaces are
  insignificant (except in LT, ST, UT). Numbers (IS, DS, US, UL, SS, SL, FL, FD, SV, UV)
  compare as numbers: ``InstanceNumber=05`` matches 5.
- **Wildcards** (C.2.2.2.4): ``*`` (any run, possibly empty) and ``?`` (one character) for
  AE, CS, LO, LT, PN, SH, ST, UC, UR, UT; never for dates, times, numbers, AS or UIDs.
- **Ranges** (C.2.2.2.5) for DA, TM, DT: ``a-b``, ``a-``, ``-b``, bounds included. A time
  or date-time of lower precision stands for its whole interval: ``TM 10-11`` is 10:00:00.000000
  to 11:59:59.999999, and a single ``TM 10`` is 10:00 to 10:59:59.999999 (so it matches
  ``101500``; for full-precision values this is exact matching). StudyDate and StudyTime are
  matched apart (combined date-time matching is an extended negotiation we do not offer).
  DT offsets (``&ZZXX``) are not compared: ``-`` in a DT query is the range separator.
- **Sequences** (C.2.2.2.6): a filter on ``00400275.00400009`` (sequence tag, ``.``, item
  attribute) matches when one item of the sequence matches; several filters under the same
  sequence must match the same item. A sequence filter whose item keys are all universal
  matches every row.
- **Person names** (PN, PS3.5 6.2.1, PS3.18 F.2.2): a value with ``=`` matches component
  group by group (Alphabetic=Ideographic=Phonetic; an empty group is universal); a value
  without ``=`` matches when any of the row's groups matches. Trailing empty components
  (``Doe^John^^``) are ignored on both sides. Without fuzzy matching the comparison is
  literal and case-sensitive (C.2.2.2.1 allows either; literal is what an exact-match
  client expects, and it is what Orthanc does with ``CaseSensitivePN``).
- **Fuzzy matching** (``fuzzymatching=true``, PS3.18 10.6.1.3, PN only): both sides are
  case-folded and stripped of accents (Unicode NFKD, combining marks dropped, so ``jerome``
  matches ``Jérôme`` and full-width letters match their ASCII forms). A value with wildcards
  is then matched as a wildcard pattern; a value without is split into words (at ``^``,
  ``=``, spaces, commas and hyphens) and matches when every word begins some word of one
  name group: ``jo`` matches ``Doe^John``, ``doe^j`` matches ``Doe^John``, ``john^doe``
  matches it too (order does not matter). This is the word-prefix behaviour of Google's
  Cloud Healthcare API; dcm4chee's phonetic (Soundex-like) matching was not chosen because
  it is English-centric and surprising for names in other scripts, and Orthanc ignores the
  parameter (it always matches PN case-insensitively).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from dicomlens.dicomweb.model import AttributeFilter, DicomJson

RowTest = Callable[[DicomJson], bool]
_ValueTest = Callable[[Any], bool]

WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
NUMERIC_VRS = frozenset({"IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "SV", "UV"})
RANGE_VRS = frozenset({"DA", "TM", "DT"})
# VRs whose values may hold a backslash as text (PS3.5 6.2): no multiple-value splitting.
TEXT_VRS = frozenset({"LT", "ST", "UT", "UR"})
PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
_FUZZY_WORDS = re.compile(r"[\^=\s,\-]+")
_DT_OFFSET = re.compile(r"[+\-&]\d{4}$")


def matches(row: DicomJson, filters: Sequence[AttributeFilter], *, fuzzy: bool) -> bool:
    """Whether ``row`` matches every filter (PS3.4 C.2.2.2; the rules are in this module's
    docstring). ``fuzzy`` is the query's ``fuzzymatching`` (PN only)."""
    return row_test(tuple(filters), fuzzy=fuzzy)(row)


@lru_cache(maxsize=512)
def row_test(filters: tuple[AttributeFilter, ...], *, fuzzy: bool) -> RowTest:
    """The test :func:`matches` applies, compiled once per query (patterns, ranges, sets)."""
    tests: list[RowTest] = []
    nested: dict[str, list[AttributeFilter]] = {}
    for f in filters:
        head, _, rest = f.tag.partition(".")
        if rest:
            nested.setdefault(head, []).append(AttributeFilter(tag=rest, vr=f.vr, value=f.value))
            continue
        value_test = _value_test(f.vr, f.value, fuzzy=fuzzy)
        if value_test is not None:
            tests.append(_element_test(f.tag, value_test))
    for head, item_filters in nested.items():
        if all(_value_test(f.vr, f.value, fuzzy=fuzzy) is None for f in item_filters):
            continue  # every item key universal: the sequence is only returned
        tests.append(_sequence_test(head, row_test(tuple(item_filters), fuzzy=fuzzy)))
    if not tests:
        return _always
    if len(tests) == 1:
        return tests[0]

    def every(row: DicomJson) -> bool:
        for test in tests:  # noqa: SIM110 - a loop costs half of all() over a generator
            if not test(row):
                return False
        return True

    return every


def _always(_row: DicomJson) -> bool:
    return True


def _element_test(tag: str, value_test: _ValueTest) -> RowTest:
    def test(row: DicomJson) -> bool:
        element = row.get(tag)
        values = element.get("Value") if element else None
        return isinstance(values, list) and any(v is not None and value_test(v) for v in values)

    return test


def _sequence_test(tag: str, item_test: RowTest) -> RowTest:
    def test(row: DicomJson) -> bool:
        element = row.get(tag)
        items = element.get("Value") if element else None
        return isinstance(items, list) and any(isinstance(i, dict) and item_test(i) for i in items)

    return test


def _value_test(vr: str, value: str, *, fuzzy: bool) -> _ValueTest | None:
    """The test of one attribute value, or None for universal matching."""
    if value == "" or (value == "*" and vr in WILDCARD_VRS):
        return None
    alternatives = [value] if vr in TEXT_VRS else value.split("\\")
    if vr == "UI":
        uids = frozenset(a.strip() for a in alternatives if a.strip())
        return lambda v: isinstance(v, str) and v in uids
    tests = [_single_test(vr, a, fuzzy=fuzzy) for a in alternatives]
    if any(t is None for t in tests):
        return None  # one universal alternative makes the whole value universal
    checks = [t for t in tests if t is not None]
    if len(checks) == 1:
        return checks[0]
    return lambda v: any(check(v) for check in checks)


def _single_test(vr: str, value: str, *, fuzzy: bool) -> _ValueTest | None:
    if vr == "PN":
        return _pn_test(value, fuzzy=fuzzy)
    if vr in RANGE_VRS:
        return _range_test(vr, value)
    if vr in NUMERIC_VRS:
        number = _number(value)
        if number is None:
            return lambda _v: False
        return lambda v: _number(v) == number
    if vr == "AT":
        wanted = value.strip().upper()
        return lambda v: isinstance(v, str) and v.upper() == wanted
    text = value if vr in TEXT_VRS else value.strip(" ")
    if vr in WILDCARD_VRS and ("*" in text or "?" in text):
        if text.strip("*") == "":
            return None
        pattern = _wildcard(text)
        return lambda v: isinstance(v, str) and pattern.fullmatch(_trim(vr, v)) is not None
    return lambda v: isinstance(v, str) and _trim(vr, v) == text


def _trim(vr: str, text: str) -> str:
    return text.rstrip(" ") if vr in TEXT_VRS else text.strip(" ")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


@lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    """``*``/``?`` pattern as a regular expression (every other character literal)."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


# --- dates and times -------------------------------------------------------------------

_LOW_PAD = {"TM": "000000.000000", "DT": "00010101000000.000000"}
_HIGH_PAD = {"TM": "235959.999999", "DT": "99991231235959.999999"}


def _range_test(vr: str, value: str) -> _ValueTest | None:
    text = value.strip()
    if "-" in text:
        start, _, end = text.partition("-")
        low = _bound(vr, start, high=False) if start.strip() else None
        high = _bound(vr, end, high=True) if end.strip() else None
        if (start.strip() and low is None) or (end.strip() and high is None):
            return lambda _v: False
        if low is None and high is None:
            return None
    else:
        low = _bound(vr, text, high=False)
        high = _bound(vr, text, high=True)
        if low is None or high is None:
            return lambda _v: False

    def test(v: Any) -> bool:
        moment = _bound(vr, v, high=False) if isinstance(v, str) else None
        if moment is None:
            return False
        return (low is None or moment >= low) and (high is None or moment <= high)

    return test


def _bound(vr: str, text: str, *, high: bool) -> str | None:
    """A DA, TM or DT value as a fixed-width comparable string, the start (or, with
    ``high``, the end) of the interval it stands for; None when it is not one."""
    cleaned = text.strip()
    if vr == "DA":
        digits = cleaned.replace(".", "")  # ACR-NEMA's YYYY.MM.DD
        return digits if len(digits) == 8 and digits.isdigit() else None
    # DT: the UTC offset is not compared; TM: ACR-NEMA's HH:MM:SS
    cleaned = _DT_OFFSET.sub("", cleaned) if vr == "DT" else cleaned.replace(":", "")
    whole, _, fraction = cleaned.partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 6:
        return None
    pad = (_HIGH_PAD if high else _LOW_PAD)[vr]
    width = len(pad) - 7  # digits before the point
    if len(whole) > width or len(whole) % 2 or (fraction and len(whole) != width):
        return None
    if vr == "DT" and len(whole) < 4:
        return None
    return whole + pad[len(whole) : width] + "." + fraction + pad[width + 1 + len(fraction) :]


# --- person names ----------------------------------------------------------------------


def _pn_test(value: str, *, fuzzy: bool) -> _ValueTest | None:
    groups = value.split("=")
    if len(groups) > 1:
        tests = [
            (name, _group_test(text, fuzzy=fuzzy))
            for name, text in zip(PN_GROUPS, groups, strict=False)
        ]
        checks = [(name, t) for name, t in tests if t is not None]
        if not checks:
            return None
        return lambda v: all(t(_pn_group(v, name)) for name, t in checks)
    group_test = _group_test(value, fuzzy=fuzzy)
    if group_test is None:
        return None
    return lambda v: any(group_test(_pn_group(v, name)) for name in PN_GROUPS)


def _pn_group(value: Any, group: str) -> str:
    if isinstance(value, dict):
        text = value.get(group)
        return text if isinstance(text, str) else ""
    # A producer that wrote the name as a plain string: its Alphabetic group.
    return value if isinstance(value, str) and group == "Alphabetic" else ""


def _group_test(text: str, *, fuzzy: bool) -> Callable[[str], bool] | None:
    query = _trim_name(text)
    if query == "" or query.strip("*") == "":
        return None
    wild = "*" in query or "?" in query
    if not fuzzy:
        if wild:
            pattern = _wildcard(query)
            return lambda name: name != "" and pattern.fullmatch(_trim_name(name)) is not None
        return lambda name: name != "" and _trim_name(name) == query
    folded = _fold(query)
    if wild:
        pattern = _wildcard(folded)
        return lambda name: name != "" and pattern.fullmatch(_fold(_trim_name(name))) is not None
    words = [w for w in _FUZZY_WORDS.split(folded) if w]

    def test(name: str) -> bool:
        name_words = _fuzzy_words(name)
        return bool(name_words) and all(any(n.startswith(w) for n in name_words) for w in words)

    return test


@lru_cache(maxsize=4096)
def _fuzzy_words(name: str) -> tuple[str, ...]:
    """The folded words of a name group, the units fuzzy matching compares."""
    return tuple(w for w in _FUZZY_WORDS.split(_fold(name)) if w)


@lru_cache(maxsize=4096)
def _trim_name(name: str) -> str:
    """A component group without trailing empty components and padding (``Doe^John^^``)."""
    return "^".join(part.strip(" ") for part in name.split("^")).rstrip("^")


@lru_cache(maxsize=4096)
def _fold(text: str) -> str:
    """Case-folded, accents and width variants removed (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
