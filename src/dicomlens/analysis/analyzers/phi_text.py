"""Does burned-in text name the patient? Fuzzy matching of OCR lines against PHI fields.

OCR confuses look-alike characters and drops or invents separators, so both sides are
normalised before comparing: case folded, ``O`` read as ``0`` and ``I``/``L``/``|`` as
``1``, the DICOM person-name separators ``^`` (and ``~``, which OCR reads for ``^``),
spaces and punctuation removed. Dates are compared on their digits in the usual orders.

Everything here is pure; nothing is logged (the inputs are PHI).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from dicomlens.domain.results import PhiFields

_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", "|": "1"})
_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")
_MONTHS = {
    name: f"{number:02d}"
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        start=1,
    )
}
_MONTH_WORD = re.compile(r"\b(" + "|".join(_MONTHS) + r")[A-Z]*\.?", re.IGNORECASE)

# What PHI tends to look like even when the file's own values are unknown or differ.
_DATE = re.compile(
    r"\b\d{1,4}[./-]\d{1,2}[./-]\d{2,4}\b"
    r"|\b\d{1,2}[ -]?(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*[ -]?\d{2,4}\b"
    r"|\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b",
    re.IGNORECASE,
)
_RECORD = re.compile(
    r"\b(?:MRN|PID|PATIENT\s*ID|ACC(?:ESSION)?(?:\s*(?:NO|#))?|MR\s*#|ID)\s*[:#]"
    r"|\b[A-Z]{0,3}\d{6,}\b",
    re.IGNORECASE,
)
_NAME = re.compile(
    r"\b[A-Z][A-Za-z'-]+\s*[\^~]\s*[A-Z][A-Za-z'-]+"
    r"|^\s*[A-Z][A-Za-z'-]+,\s*[A-Z][A-Za-z'-]+(?:\s+[A-Z][A-Za-z'.-]*)?\s*$"
    r"|\b(?:NAME|PATIENT|PT)\s*:",
    re.IGNORECASE,
)

FUZZY_THRESHOLD = 0.8


@dataclass(frozen=True, kw_only=True)
class PhiMatch:
    """One reason to suspect PHI: which line (index) and why (no PHI value in ``reason``)."""

    line: int
    reason: str
    confidence: float


def normalise(text: str) -> str:
    """``text`` folded for comparison (see the module docstring)."""
    folded = text.upper().replace("^", " ").replace("~", " ")
    return _NOT_ALNUM.sub("", folded).translate(_LOOK_ALIKES)


def partial_ratio(needle: str, haystack: str) -> float:
    """The best similarity (0..1) of ``needle`` with any stretch of ``haystack``."""
    if not needle or not haystack:
        return 0.0
    if needle in haystack:
        return 1.0
    if len(haystack) <= len(needle):
        return SequenceMatcher(None, needle, haystack).ratio()
    best = 0.0
    size = len(needle)
    for width in (size - 1, size, size + 1):
        if width < 1:
            continue
        for start in range(len(haystack) - width + 1):
            ratio = SequenceMatcher(None, needle, haystack[start : start + width]).ratio()
            best = max(best, ratio)
    return best


def _fuzzy_in(value: str, line: str) -> float:
    """How well the normalised ``value`` appears in the normalised ``line`` (0 when unsure)."""
    if len(value) < 2:
        return 0.0
    if len(value) < 4:  # too short for fuzzy matching to mean anything
        return 1.0 if value in line else 0.0
    ratio = partial_ratio(value, line)
    return ratio if ratio >= FUZZY_THRESHOLD else 0.0


def _name_parts(patient_name: str) -> list[str]:
    """Family and given names (first alphabetic group of a DICOM PN), normalised."""
    alphabetic = patient_name.split("=", maxsplit=1)[0]
    parts = [normalise(part) for part in re.split(r"[\^~,]|\s+", alphabetic)]
    return [part for part in parts if len(part) >= 2][:3]


def _date_forms(dicom_date: str) -> list[str]:
    """The digit strings a DA value (YYYYMMDD) is commonly written as."""
    digits = re.sub(r"\D", "", dicom_date)
    if len(digits) != 8:
        return []
    year, month, day = digits[:4], digits[4:6], digits[6:]
    return [
        year + month + day,
        day + month + year,
        month + day + year,
        day + month + year[2:],
        month + day + year[2:],
    ]


def _line_digits(line: str) -> str:
    """The digits of ``line``, month names read as numbers, look-alikes read as digits."""
    text = _MONTH_WORD.sub(lambda m: _MONTHS[m.group(1).upper()], line.upper())
    text = text.translate(_LOOK_ALIKES)
    return re.sub(r"\D", "", text)


def match_phi(lines: Sequence[str], phi: PhiFields) -> list[PhiMatch]:
    """Reasons to suspect that ``lines`` (OCR output) show PHI, best first per line."""
    matches: list[PhiMatch] = []
    normalised = [normalise(line) for line in lines]
    if phi.patient_name:
        parts = _name_parts(phi.patient_name)
        # The name may be split over lines: each part must appear in some line.
        if parts and all(any(_fuzzy_in(part, line) for line in normalised) for part in parts):
            matches.extend(_lines_with(parts, normalised, "the patient's name", 0.95))
        elif parts and len(parts[0]) >= 4:
            matches.extend(_lines_with(parts[:1], normalised, "the patient's family name", 0.8))
    for value, reason in (
        (phi.patient_id, "the patient ID"),
        (phi.accession_number, "the accession number"),
    ):
        key = normalise(value or "")
        if len(key) >= 3:
            matches.extend(_lines_with([key], normalised, reason, 0.9))
    if phi.patient_birth_date:
        forms = _date_forms(phi.patient_birth_date)
        for index, line in enumerate(lines):
            digits = _line_digits(line)
            if forms and any(form in digits for form in forms):
                matches.append(
                    PhiMatch(line=index, reason="the patient's birth date", confidence=0.9)
                )
    for index, line in enumerate(lines):
        for pattern, reason in (
            (_NAME, "text that looks like a person's name"),
            (_DATE, "text that looks like a date"),
            (_RECORD, "text that looks like a record number"),
        ):
            if pattern.search(line):
                matches.append(PhiMatch(line=index, reason=reason, confidence=0.6))
    return matches


def _lines_with(
    parts: Iterable[str], normalised: Sequence[str], reason: str, confidence: float
) -> list[PhiMatch]:
    found = []
    for index, line in enumerate(normalised):
        if any(_fuzzy_in(part, line) for part in parts):
            found.append(PhiMatch(line=index, reason=reason, confidence=confidence))
    return found
