"""QIDO-RS (PS3.18 10.6): a search request's parameters parsed into a :class:`QidoQuery`, and
the index's candidate rows turned into the search response.

Decisions (PS3.18 leaves them to the origin server):

- **Matching keys** are the attributes the index keeps (``dicomweb.attributes``) at the
  query's level and the levels above it (10.6.1.2: ``/instances?PatientID=...``), by keyword
  or tag, and items of their sequences as ``Sequence.Item`` (``00400275.00400009``). Any
  other attribute, a private one included, is a 400: we could never match it.
- **includefield** accepts any attribute of the data dictionary or a private tag; only those
  the row holds are returned ("supported by the origin server"), so an instance attribute
  asked of a series search is not returned, as 10.6.3.3.2 requires.
- **Order**: studies newest first (StudyDate, then StudyTime, descending; undated last),
  ties by Study Instance UID; series by study UID, Series Number (missing last), Series
  Instance UID; instances by study and series UID, Instance Number (missing last), SOP
  Instance UID. Paging with offset/limit is stable over an unchanged index.
- **Return attributes**: the Table 10.6.3-3/-4/-5 attributes of the level, and of the
  levels above it that the path does not name (10.6.3.3). Type R attributes the row lacks
  are returned with no Value (PS3.4 C.2.2.1.1: required return keys are returned, zero
  length when unknown); type C ones ("if known") are left out. Matching keys are returned
  as universal-matching keys are: with no Value when the row has none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.uid import UID

from dicomlens.dicomweb.attributes import (
    INSTANCE_KEYWORDS,
    REQUEST_ATTRIBUTES_ITEM_KEYWORDS,
    SERIES_KEYWORDS,
    STUDY_KEYWORDS,
)
from dicomlens.dicomweb.matching import RANGE_VRS, WILDCARD_VRS, row_test
from dicomlens.dicomweb.model import (
    MODALITIES_IN_STUDY,
    NUMBER_OF_SERIES_RELATED_INSTANCES,
    NUMBER_OF_STUDY_RELATED_INSTANCES,
    NUMBER_OF_STUDY_RELATED_SERIES,
    SERIES_INSTANCE_UID,
    SOP_CLASSES_IN_STUDY,
    SOP_INSTANCE_UID,
    STUDY_INSTANCE_UID,
    AttributeFilter,
    DicomJson,
    QidoQuery,
    QueryLevel,
)
from dicomlens.domain.errors import DicomlensError, ErrorCode

RETRIEVE_URL = "00081190"
_STUDY_DATE, _STUDY_TIME = "00080020", "00080030"
_SERIES_NUMBER, _INSTANCE_NUMBER = "00200011", "00200013"

# Return attributes: (keyword, required). required = Type R of PS3.18 Table 10.6.3-3/-4/-5
# (returned with no Value when unknown); not required = Type C "shall be present if known"
# (or U, the unique key, which every row has). RetrieveURL is added by respond().
STUDY_RETURN: tuple[tuple[str, bool], ...] = (  # Table 10.6.3-3
    ("SpecificCharacterSet", False),
    ("StudyDate", True),
    ("StudyTime", True),
    ("AccessionNumber", True),
    ("InstanceAvailability", False),
    ("ModalitiesInStudy", True),
    ("ReferringPhysicianName", True),
    ("TimezoneOffsetFromUTC", False),
    ("PatientName", True),
    ("PatientID", True),
    ("PatientBirthDate", True),
    ("PatientSex", True),
    ("StudyInstanceUID", False),
    ("StudyID", True),
    ("NumberOfStudyRelatedSeries", True),
    ("NumberOfStudyRelatedInstances", True),
)
SERIES_RETURN: tuple[tuple[str, bool], ...] = (  # Table 10.6.3-4
    ("SpecificCharacterSet", False),
    ("Modality", True),
    ("TimezoneOffsetFromUTC", False),
    ("SeriesDescription", False),
    ("SeriesInstanceUID", False),
    ("SeriesNumber", True),
    ("NumberOfSeriesRelatedInstances", True),
    ("PerformedProcedureStepStartDate", False),
    ("PerformedProcedureStepStartTime", False),
    ("RequestAttributesSequence", False),
)
INSTANCE_RETURN: tuple[tuple[str, bool], ...] = (  # Table 10.6.3-5
    ("SpecificCharacterSet", False),
    ("SOPClassUID", True),
    ("SOPInstanceUID", False),
    ("InstanceAvailability", False),
    ("TimezoneOffsetFromUTC", False),
    ("InstanceNumber", True),
    ("Rows", False),
    ("Columns", False),
    ("BitsAllocated", False),
    ("NumberOfFrames", False),
)

# Attributes the index computes over a study's or series' instances (InstanceIndex).
_STUDY_COMPUTED = (
    MODALITIES_IN_STUDY,
    SOP_CLASSES_IN_STUDY,
    NUMBER_OF_STUDY_RELATED_SERIES,
    NUMBER_OF_STUDY_RELATED_INSTANCES,
)
_SERIES_COMPUTED = (NUMBER_OF_SERIES_RELATED_INSTANCES,)

_MAX_VALUE_LENGTH = 8192  # a long UID list fits; anything longer is no search
_MAX_PAGING = 10**9
_HEX_TAG = re.compile(r"[0-9A-Fa-f]{8}")
_NAME_SHOWN = 64  # characters of an unknown parameter name quoted in an error
_DA = r"\d{8}"
_TM = r"\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?"
_DT = r"\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?)?)?"
_DATE_TIME = {
    vr: re.compile(rf"({p})?(-({p})?)?") for vr, p in (("DA", _DA), ("TM", _TM), ("DT", _DT))
}
_INT = re.compile(r"[+-]?\d{1,12}")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER_VRS = frozenset({"IS", "US", "UL", "SS", "SL", "SV", "UV"})
_DECIMAL_VRS = frozenset({"DS", "FL", "FD"})


def _tag(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    if tag is None:  # pragma: no cover - the keyword lists above are the dictionary's
        raise ValueError(keyword)
    return f"{tag:08X}"


def _level_tags(keywords: Iterable[str], computed: Iterable[str]) -> frozenset[str]:
    return frozenset({_tag(k) for k in keywords} | set(computed))


_STUDY_KEYS = _level_tags(STUDY_KEYWORDS, _STUDY_COMPUTED)
_SERIES_KEYS = _level_tags(SERIES_KEYWORDS, _SERIES_COMPUTED)
_INSTANCE_KEYS = _level_tags(INSTANCE_KEYWORDS, ())
# PS3.18 10.6.1.2: a search may match on its own level's attributes and those above it.
MATCHING_KEYS: dict[QueryLevel, frozenset[str]] = {
    QueryLevel.STUDY: _STUDY_KEYS,
    QueryLevel.SERIES: _STUDY_KEYS | _SERIES_KEYS,
    QueryLevel.INSTANCE: _STUDY_KEYS | _SERIES_KEYS | _INSTANCE_KEYS,
}
# Items of these sequences are not kept whole: only these attributes can be matched.
_SEQUENCE_ITEM_KEYS = {
    _tag("RequestAttributesSequence"): frozenset(_tag(k) for k in REQUEST_ATTRIBUTES_ITEM_KEYWORDS)
}


# --- parsing ---------------------------------------------------------------------------


def parse_qido(
    level: QueryLevel,
    params: Sequence[tuple[str, str]],
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> QidoQuery:
    """The QIDO-RS search at ``level`` that ``params`` (percent-decoded name/value pairs, in
    request order) ask for, within the study (and series) the path names.

    Matching keys by keyword (``PatientName``), tag (``00100010``) or sequence item path
    (``RequestAttributesSequence.ScheduledProcedureStepID``); a repeated UI key is a UID
    list, any other repeated key a 400. ``includefield`` repeats and takes comma-separated
    keywords or tags, or ``all``; ``fuzzymatching`` is ``true`` or ``false``; ``limit`` and
    ``offset`` non-negative integers. Raises VALIDATION_ERROR naming what is wrong (never
    quoting a value) for an unknown parameter or attribute, an attribute that cannot be
    matched at this level, a value its VR does not allow, or path UIDs that are no UIDs.
    """
    _check_path(level, study_uid, series_uid)
    values: dict[str, list[str]] = {}
    vrs: dict[str, str] = {}
    include_tags: list[str] = []
    include_all = False
    options: dict[str, str] = {}
    for name, value in params:
        if name == "includefield":
            for item in (part.strip() for part in value.split(",")):
                if item == "all":
                    include_all = True
                elif item:
                    include_tags.append(_include_tag(item))
        elif name in ("fuzzymatching", "limit", "offset"):
            if name in options:
                raise _invalid(f"the parameter {name} is given more than once")
            options[name] = value
        else:
            path, vr = _matching_key(level, name)
            if len(value) > _MAX_VALUE_LENGTH:
                raise _invalid(f"the value of {name[:_NAME_SHOWN]} is too long")
            if path in values and vr != "UI":
                raise _invalid(f"the attribute {_describe(path)} is given more than once")
            # a UID list: repeated keys, or one value with commas (PS3.18 8.3.4.1)
            values.setdefault(path, []).append(value.replace(",", "\\") if vr == "UI" else value)
            vrs[path] = vr
    filters = tuple(
        AttributeFilter(tag=path, vr=vrs[path], value=_checked_value(path, vrs[path], given))
        for path, given in values.items()
    )
    return QidoQuery(
        level=level,
        study_uid=study_uid,
        series_uid=series_uid,
        filters=filters,
        include_tags=tuple(dict.fromkeys(include_tags)),
        include_all=include_all,
        fuzzy=_fuzzy(options.get("fuzzymatching")),
        limit=_paging("limit", options.get("limit")),
        offset=_paging("offset", options.get("offset")) or 0,
    )


def _invalid(message: str) -> DicomlensError:
    return DicomlensError(ErrorCode.VALIDATION_ERROR, message)


def _check_path(level: QueryLevel, study_uid: str | None, series_uid: str | None) -> None:
    if study_uid is not None and level == QueryLevel.STUDY:
        raise _invalid("a study search does not take a Study Instance UID in its path")
    if series_uid is not None and (level != QueryLevel.INSTANCE or study_uid is None):
        raise _invalid("only an instance search within a study takes a Series Instance UID")
    for uid, what in ((study_uid, "Study"), (series_uid, "Series")):
        if uid is not None and not UID(uid).is_valid:
            raise _invalid(f"the {what} Instance UID in the path is not a valid UID")


def _attribute_tag(name: str) -> int | None:
    if _HEX_TAG.fullmatch(name):
        return int(name, 16)
    return tag_for_keyword(name)


def _describe(path: str) -> str:
    return ".".join(keyword_for_tag(int(t, 16)) or t for t in path.split("."))


def _matching_key(level: QueryLevel, name: str) -> tuple[str, str]:
    """The filter path (``00100010`` or ``00400275.00400009``) and VR of a matching key."""
    parts = name.split(".")
    tags = [_attribute_tag(part) for part in parts]
    shown = name[:_NAME_SHOWN]
    if any(tag is None for tag in tags) or len(parts) > 2:
        raise _invalid(f"unknown query parameter or attribute '{shown}'")
    hexes = [f"{tag:08X}" for tag in tags if tag is not None]
    head = hexes[0]
    if head not in MATCHING_KEYS[level]:
        raise _invalid(f"'{shown}' is not a matching key of a {level.name.lower()} search")
    vr = _vr(hexes[-1], shown)
    if len(hexes) == 2:
        allowed = _SEQUENCE_ITEM_KEYS.get(head)
        if _vr(head, shown) != "SQ" or (allowed is not None and hexes[1] not in allowed):
            raise _invalid(f"'{shown}' is not a matching key of a {level.name.lower()} search")
        if vr == "SQ":
            raise _invalid(f"'{shown}': nested sequences cannot be matched")
    return ".".join(hexes), vr


def _vr(tag: str, shown: str) -> str:
    try:
        vr = str(dictionary_VR(int(tag, 16)))
    except KeyError as exc:
        raise _invalid(f"'{shown}' has no value representation in the dictionary") from exc
    return vr.split(" or ", maxsplit=1)[0]  # US or SS ...: none of the matching keys is ambiguous


def _include_tag(item: str) -> str:
    head = item.split(".", maxsplit=1)[0]
    if _HEX_TAG.fullmatch(head):
        return head.upper()
    tag = tag_for_keyword(head)
    if tag is None:
        raise _invalid(f"includefield names an unknown attribute '{head[:_NAME_SHOWN]}'")
    return f"{tag:08X}"


def _checked_value(path: str, vr: str, given: list[str]) -> str:
    """The filter value: one value, or the UID list of a repeated UI key; raises on a value
    the VR does not allow."""
    value = "\\".join(v for v in given if v) if len(given) > 1 else given[0]
    if value == "":
        return value
    what = _describe(path)
    if vr == "SQ":
        raise _invalid(f"{what} is a sequence: match on one of its item attributes")
    alternatives = value.split("\\")
    if vr not in WILDCARD_VRS and any("*" in a or "?" in a for a in alternatives):
        raise _invalid(f"wildcards are not allowed for {what} (VR {vr})")
    for alternative in alternatives:
        if not _conforms(vr, alternative.strip()):
            raise _invalid(f"the value of {what} is not a valid {vr} query value")
    return value


def _conforms(vr: str, value: str) -> bool:
    if vr == "UI":
        return value == "" or UID(value).is_valid
    if vr in RANGE_VRS:
        found = _DATE_TIME[vr].fullmatch(value)
        if found is None or value in ("", "-"):
            return False
        start, _, end = value.partition("-")
        return not (start and end and vr == "DA" and start > end)
    if vr in _INTEGER_VRS:
        return _INT.fullmatch(value) is not None
    if vr in _DECIMAL_VRS:
        return _DECIMAL.fullmatch(value) is not None
    if vr == "PN":
        return value.count("=") <= 2
    return True


def _fuzzy(value: str | None) -> bool:
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise _invalid("fuzzymatching must be true or false")
    return value.lower() == "true"


def _paging(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or int(value) > _MAX_PAGING:
        raise _invalid(f"{name} must be a non-negative integer")
    return int(value)


# --- the response ----------------------------------------------------------------------


def respond(
    rows: Iterable[DicomJson], query: QidoQuery, *, max_results: int, retrieve_root: str
) -> tuple[list[DicomJson], bool]:
    """The search response: the rows that match ``query`` (every filter, and the path's
    study and series), in this module's order, from ``query.offset`` on, at most
    ``query.limit`` and never more than ``max_results``, each projected onto its return
    attributes with its RetrieveURL under ``retrieve_root``, elements sorted by tag.

    The flag is True when matches beyond the page were cut by ``max_results`` rather than by
    the client's own limit: the service then adds PS3.18's ``Warning: 299`` header.
    """
    test = row_test(query.filters, fuzzy=query.fuzzy)
    path = ((STUDY_INSTANCE_UID, query.study_uid), (SERIES_INSTANCE_UID, query.series_uid))
    scope = [(tag, uid) for tag, uid in path if uid is not None]
    matched = [row for row in rows if _in_scope(row, scope) and test(row)]
    _sort(matched, query.level)
    page_size = max_results if query.limit is None else min(query.limit, max_results)
    page = matched[query.offset : query.offset + page_size]
    truncated = len(matched) - query.offset > page_size and (
        query.limit is None or query.limit > max_results
    )
    projection = _Projection(query, retrieve_root.rstrip("/"))
    return [projection.apply(row) for row in page], truncated


def _in_scope(row: DicomJson, scope: list[tuple[str, str]]) -> bool:
    return all(_first(row, tag) == uid for tag, uid in scope)


def _first(row: DicomJson, tag: str) -> Any:
    element = row.get(tag)
    values = element.get("Value") if element else None
    return values[0] if values else None


def _text(row: DicomJson, tag: str) -> str:
    value = _first(row, tag)
    return value if isinstance(value, str) else ""


def _number_key(row: DicomJson, tag: str) -> tuple[bool, float]:
    value = _first(row, tag)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (False, float(value))
    return (True, 0.0)  # missing (or not a number): last


def _sort(rows: list[DicomJson], level: QueryLevel) -> None:
    if level == QueryLevel.STUDY:
        rows.sort(key=lambda r: _text(r, STUDY_INSTANCE_UID))
        # newest first; stable, so ties keep UID order; undated ("" < any date) last
        rows.sort(key=lambda r: (_text(r, _STUDY_DATE), _text(r, _STUDY_TIME)), reverse=True)
    elif level == QueryLevel.SERIES:
        rows.sort(
            key=lambda r: (
                _text(r, STUDY_INSTANCE_UID),
                _number_key(r, _SERIES_NUMBER),
                _text(r, SERIES_INSTANCE_UID),
            )
        )
    else:
        rows.sort(
            key=lambda r: (
                _text(r, STUDY_INSTANCE_UID),
                _text(r, SERIES_INSTANCE_UID),
                _number_key(r, _INSTANCE_NUMBER),
                _text(r, SOP_INSTANCE_UID),
            )
        )


_COMPUTED_KEYWORDS = frozenset(
    {
        "ModalitiesInStudy",
        "SOPClassesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
        "NumberOfSeriesRelatedInstances",
    }
)


class _Projection:
    """Which elements of a row the response keeps, worked out once per query."""

    def __init__(self, query: QidoQuery, root: str) -> None:
        tables = [
            {QueryLevel.STUDY: STUDY_RETURN, QueryLevel.SERIES: SERIES_RETURN}.get(
                query.level, INSTANCE_RETURN
            )
        ]
        if query.level == QueryLevel.INSTANCE and query.series_uid is None:
            tables.append(SERIES_RETURN)
        if query.level != QueryLevel.STUDY and query.study_uid is None:
            tables.append(STUDY_RETURN)
        # tag -> VR of an element returned with no Value when the row lacks it
        self.required: dict[str, str] = {}
        self.optional: set[str] = set(query.include_tags)
        for level, table in enumerate(tables):
            for keyword, required in table:
                if level > 0 and keyword in _COMPUTED_KEYWORDS:
                    # the study's or series' counts and lists belong to its own search: a
                    # row of a lower level does not carry them, so they are not returned
                    continue
                if required:
                    self.required[_tag(keyword)] = _vr(_tag(keyword), keyword)
                else:
                    self.optional.add(_tag(keyword))
        for f in query.filters:
            head = f.tag.split(".")[0]
            self.required.setdefault(head, f.vr if head == f.tag else "SQ")
        self.optional -= self.required.keys()
        self.include_all = query.include_all
        self.level = query.level
        self.root = root
        # (tag, VR when returned with no Value if missing, else None), in tag order
        self.order = sorted(
            [(tag, vr) for tag, vr in self.required.items()]
            + [(tag, None) for tag in self.optional]
            + [(RETRIEVE_URL, None)]
        )

    def apply(self, row: DicomJson) -> DicomJson:
        if self.include_all:
            return self._apply_all(row)
        out: DicomJson = {}
        for tag, vr in self.order:
            if tag == RETRIEVE_URL:
                url = self._retrieve_url(row)
                if url is not None:
                    out[tag] = {"vr": "UR", "Value": [url]}
                continue
            element = row.get(tag)
            if element:
                out[tag] = element
            elif vr is not None:
                out[tag] = {"vr": vr}
        return out

    def _apply_all(self, row: DicomJson) -> DicomJson:
        out: DicomJson = dict(row)
        for tag, vr in self.required.items():
            out[tag] = row.get(tag) or {"vr": vr}
        url = self._retrieve_url(row)
        if url is not None:
            out[RETRIEVE_URL] = {"vr": "UR", "Value": [url]}
        return {tag: out[tag] for tag in sorted(out)}

    def _retrieve_url(self, row: DicomJson) -> str | None:
        path = [("studies", STUDY_INSTANCE_UID)]
        if self.level != QueryLevel.STUDY:
            path.append(("series", SERIES_INSTANCE_UID))
        if self.level == QueryLevel.INSTANCE:
            path.append(("instances", SOP_INSTANCE_UID))
        parts = []
        for segment, tag in path:
            uid = _text(row, tag)
            if not uid:
                return None
            parts.append(f"{segment}/{uid}")
        return f"{self.root}/" + "/".join(parts)
