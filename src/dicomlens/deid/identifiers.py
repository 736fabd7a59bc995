"""Every identifier a file holds, and where it shows up again in free text.

Used by the Clean Descriptors option (PS3.15 E.3.5: descriptions kept with identifying
information removed) and, for every text value the profile keeps, as a last check.

What counts as an identifier of this file:

* every person name (all PN values, wherever they are: patient, physicians, operators ...):
  each component (family, given, middle ...) as a word, so that any order matches;
* identifying numbers: Patient ID, other IDs, accession, study and procedure IDs ... (every
  LO/SH attribute that Table E.1-1 acts on and whose keyword names an ID or a number);
  matched with or without separators and leading zeros (``MRN884211``, ``MRN 884-211``,
  ``884211``);
* the institution's name and address as phrases;
* every date in the file (DA, and the date part of DT), in the forms people write them:
  ``19610302``, ``1961-03-02``, ``03/02/1961``, ``3.2.61``, ``2 Mar 1961``,
  ``March 2, 1961``, ``2nd March 1961`` ...; and any other date in those forms.

Everything is matched on whole tokens: a name part inside a longer word is left alone
(``AN`` does not touch ``SCAN``), so unrelated words are not damaged.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_WORD = "(?:" + "|".join(f"{m[:3]}(?:{m[3:]})?" for m in _MONTHS) + r"|Sept)\.?"
_BEFORE = r"(?<![0-9A-Za-z])"
_AFTER = r"(?![0-9A-Za-z])"
_ORDINAL = r"(?:st|nd|rd|th)?"

# Any date written out, whosever it is (the file's own dates are matched more loosely).
_ANY_DATE = (
    r"(?:19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])",
    r"(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)\d{2}",
    r"(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:19|20)\d{2}",
    r"(?:0?[1-9]|[12]\d|3[01])/(?:0?[1-9]|1[0-2])/\d{2}",
    r"(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])",
    rf"(?:0?[1-9]|[12]\d|3[01]){_ORDINAL}[\s-]*(?:of\s+)?{_MONTH_WORD}[\s,-]*(?:19|20)?\d{{2}}",
    rf"{_MONTH_WORD}\s*(?:0?[1-9]|[12]\d|3[01]){_ORDINAL},?\s*(?:19|20)\d{{2}}",
)
_ID_WORDS = re.compile(r"ID$|IDs$|Identifier|Number|Numbers$|Locator$")
_PHRASE_KEYWORDS = frozenset(
    {
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "IssuerOfPatientID",
        "PatientAddress",
        "ReferringPhysicianAddress",
        "StationName",
    }
)
_SEPARATOR = r"[\s\-/.:_#]?"
_READ_VRS = frozenset({"PN", "DA", "DT", "LO", "SH"})


@dataclass(frozen=True, kw_only=True)
class Identifiers:
    """The identifying values of one file, and a whole-token matcher for them."""

    name_parts: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    dates: tuple[dt.date, ...] = ()

    @property
    def pattern(self) -> re.Pattern[str]:
        """One case-insensitive pattern for every identifier and date form."""
        return _compile(self)

    def found_in(self, text: str) -> bool:
        """Whether ``text`` shows any identifier of the file (or any written date)."""
        return bool(text) and self.pattern.search(text) is not None

    def clean(self, text: str) -> str:
        """``text`` with every identifier and date taken out (whitespace tidied)."""
        cleaned = self.pattern.sub("", str(text))
        cleaned = re.sub(r"\s{2,}", " ", cleaned)
        return re.sub(r"\s+([,.;:])", r"\1", cleaned).strip(" ,;:-")


def collect_identifiers(ds: Dataset, table: Iterable[int]) -> Identifiers:
    """The identifiers anywhere in ``ds`` (nested sequences included); ``table`` holds the
    tags Table E.1-1 acts on, which tells an identifying number from a technical one."""
    acted_on = frozenset(table)
    names: set[str] = set()
    ids: set[str] = set()
    phrases: set[str] = set()
    dates: set[dt.date] = set()
    for elem in ds.iterall():
        if elem.VR not in _READ_VRS or elem.value in (None, "") or isinstance(elem.value, bytes):
            continue
        values = elem.value if isinstance(elem.value, list | tuple | MultiValue) else [elem.value]
        texts = [str(v) for v in values]
        keyword = keyword_for_tag(int(elem.tag)) or ""
        if elem.VR == "PN":
            for text in texts:
                names.update(p for p in re.split(r"[\^=\s,]+", text) if len(p) >= 2)
        elif elem.VR in ("DA", "DT"):
            dates.update(d for d in (_parse_date(t) for t in texts) if d is not None)
        elif keyword in _PHRASE_KEYWORDS:
            phrases.update(t.strip() for t in texts if len(t.strip()) >= 3)
        elif elem.VR in ("LO", "SH") and (
            keyword == "PatientID" or (int(elem.tag) in acted_on and _ID_WORDS.search(keyword))
        ):
            ids.update(t.strip() for t in texts if len(_alnum(t)) >= 3)
    return Identifiers(
        name_parts=tuple(sorted(names, key=len, reverse=True)),
        ids=tuple(sorted(ids, key=len, reverse=True)),
        phrases=tuple(sorted(phrases, key=len, reverse=True)),
        dates=tuple(sorted(dates)),
    )


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", text)


def _parse_date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _id_pattern(identifier: str) -> list[str]:
    """An ID with any single separator between its characters and optional leading zeros;
    its longest digit run alone too when that is long enough to identify (4 or more)."""
    chars = _alnum(identifier)
    core = chars.lstrip("0")
    if len(core) < 3:  # too short without its zeros to tell from other numbers
        return [_SEPARATOR.join(re.escape(c) for c in chars)]
    forms = ["0*" + _SEPARATOR.join(re.escape(c) for c in core)]
    runs = re.findall(r"\d{4,}", core)
    if runs and runs[0] != core:
        longest = max(runs, key=len).lstrip("0")
        if len(longest) >= 4:
            forms.append("0*" + _SEPARATOR.join(longest))
    return forms


def _date_patterns(date: dt.date) -> list[str]:
    """The usual written forms of one date."""
    year, short = str(date.year), f"{date.year % 100:02d}"
    month, day = f"0?{date.month}", f"0?{date.day}"
    name = _MONTHS[date.month - 1]
    month_word = f"(?:{name[:3]}(?:{name[3:]})?{'|Sept' if date.month == 9 else ''})\\.?"
    sep = r"[-/.\s]"
    return [
        f"{year}{date:%m%d}",
        f"{year}{sep}{month}{sep}{day}",
        f"{day}{sep}{month}{sep}(?:{year}|{short})",
        f"{month}{sep}{day}{sep}(?:{year}|{short})",
        f"{date:%d%m}{year}",
        f"{date:%m%d}{year}",
        rf"{day}{_ORDINAL}[\s-]*(?:of\s+)?{month_word}[\s,-]*(?:{year}|{short})",
        rf"{month_word}\s*{day}{_ORDINAL},?\s*(?:{year}|{short})",
    ]


_CACHE: dict[Identifiers, re.Pattern[str]] = {}


def _compile(identifiers: Identifiers) -> re.Pattern[str]:
    cached = _CACHE.get(identifiers)
    if cached is not None:
        return cached
    forms: list[str] = [re.escape(p) for p in identifiers.phrases]
    for identifier in identifiers.ids:
        forms.extend(_id_pattern(identifier))
    for date in identifiers.dates:
        forms.extend(_date_patterns(date))
    forms.extend(_ANY_DATE)
    forms.extend(re.escape(p) for p in identifiers.name_parts)
    pattern = re.compile(_BEFORE + "(?:" + "|".join(forms) + ")" + _AFTER, re.IGNORECASE)
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[identifiers] = pattern
    return pattern
