"""What every :class:`~dicomlens.ports.InstanceIndex` adapter shares: the stored form of an
instance, the keys a QIDO query can be narrowed by, and the shape of a candidate row.

Pure functions of their inputs (no I/O). The narrowing keys are a superset rule: an adapter
that narrows by them returns every row that matches the query's filters (the caller
re-applies each filter), so a key is taken only when it is unambiguous: a single value
without wildcards, a UID list, a plain date or date range.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from dicomlens.dicomweb.model import (
    MODALITIES_IN_STUDY,
    NUMBER_OF_SERIES_RELATED_INSTANCES,
    NUMBER_OF_STUDY_RELATED_INSTANCES,
    NUMBER_OF_STUDY_RELATED_SERIES,
    SERIES_INSTANCE_UID,
    SOP_CLASSES_IN_STUDY,
    SOP_INSTANCE_UID,
    STUDY_INSTANCE_UID,
    DicomJson,
    IndexedInstance,
    QidoQuery,
)

PATIENT_ID = "00100020"
STUDY_DATE = "00080020"
ACCESSION_NUMBER = "00080050"
MODALITY = "00080060"

_DATE = re.compile(r"\d{8}")
_WILDCARDS = frozenset("*?")


def instance_to_json(instance: IndexedInstance) -> str:
    """The instance as a JSON document (the stored form; DICOM JSON kept exactly)."""
    record = asdict(instance)
    record["stored_at"] = instance.stored_at.isoformat()
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def instance_from_json(text: str) -> IndexedInstance:
    """The instance stored as ``text`` by :func:`instance_to_json`."""
    record: dict[str, Any] = json.loads(text)
    record["stored_at"] = datetime.fromisoformat(record["stored_at"])
    return IndexedInstance(**record)


def first_value(attributes: DicomJson, tag: str) -> str | None:
    """The first value of ``tag`` as a string (a PN's alphabetic form), or None when the
    attribute is absent or empty."""
    element = attributes.get(tag)
    if not isinstance(element, dict):
        return None
    values = element.get("Value")
    if not isinstance(values, list) or not values or values[0] is None:
        return None
    value = values[0]
    if isinstance(value, dict):  # PN
        value = value.get("Alphabetic")
    text = None if value is None else str(value)
    return text or None


def instance_order(instance: IndexedInstance) -> tuple[str, int, int, str]:
    """The order :meth:`InstanceIndex.instances` promises: series UID, instance number
    (missing last), SOP Instance UID."""
    number = instance.instance_number
    return (
        instance.series_uid,
        0 if number is not None else 1,
        number if number is not None else 0,
        instance.sop_uid,
    )


@dataclass(frozen=True, kw_only=True)
class DateRange:
    """A StudyDate range as YYYYMMDD strings, inclusive; None is an open end."""

    start: str | None
    end: str | None


@dataclass(frozen=True, kw_only=True)
class NarrowingKeys:
    """The keys of a query an adapter may look rows up by. None: no narrowing by that key.

    A UID set is the intersection of the path's UID and the query's UID list; an empty set
    means nothing can match.
    """

    study_uids: frozenset[str] | None = None
    series_uids: frozenset[str] | None = None
    sop_uids: frozenset[str] | None = None
    patient_id: str | None = None
    accession_number: str | None = None
    study_date: DateRange | None = None
    modality: str | None = None


def narrowing_keys(query: QidoQuery) -> NarrowingKeys:
    """The keys of ``query`` (its path UIDs and those filters) that every matching row has."""
    filters = {f.tag: f.value for f in query.filters}
    return NarrowingKeys(
        study_uids=_uid_set(query.study_uid, filters.get(STUDY_INSTANCE_UID)),
        series_uids=_uid_set(query.series_uid, filters.get(SERIES_INSTANCE_UID)),
        sop_uids=_uid_set(None, filters.get(SOP_INSTANCE_UID)),
        patient_id=_single_value(filters.get(PATIENT_ID)),
        accession_number=_single_value(filters.get(ACCESSION_NUMBER)),
        study_date=_date_range(filters.get(STUDY_DATE)),
        modality=_single_value(filters.get(MODALITY)),
    )


def _uid_set(path_uid: str | None, listed: str | None) -> frozenset[str] | None:
    found: frozenset[str] | None = None if path_uid is None else frozenset({path_uid})
    if listed:
        uids = frozenset(uid.strip() for uid in listed.split("\\") if uid.strip())
        if uids and not any(_WILDCARDS & set(uid) for uid in uids):
            found = uids if found is None else found & uids
    return found


def _single_value(value: str | None) -> str | None:
    if not value or "\\" in value or _WILDCARDS & set(value):
        return None
    return value


def _date_range(value: str | None) -> DateRange | None:
    if not value:
        return None
    start, dash, end = value.partition("-")
    if not dash:
        return DateRange(start=value, end=value) if _DATE.fullmatch(value) else None
    if (start and not _DATE.fullmatch(start)) or (end and not _DATE.fullmatch(end)):
        return None
    if not start and not end:
        return None
    return DateRange(start=start or None, end=end or None)


def date_in_range(date: str | None, wanted: DateRange) -> bool:
    """Whether a study dated ``date`` may match ``wanted``. An undated study always may:
    whether it matches a date key is the matcher's decision, not the index's."""
    if not date:
        return True
    return (wanted.start is None or wanted.start <= date) and (
        wanted.end is None or date <= wanted.end
    )


def _count(vr: str, value: int) -> DicomJson:
    return {"vr": vr, "Value": [value]}


def _values(vr: str, values: Iterable[str]) -> DicomJson:
    ordered = sorted(set(values))
    return {"vr": vr, "Value": ordered} if ordered else {"vr": vr}


def study_row(
    study: DicomJson,
    *,
    series_count: int,
    instance_count: int,
    modalities: Iterable[str],
    sop_classes: Iterable[str],
) -> dict[str, Any]:
    """A STUDY-level row: the study's (and patient's) attributes plus the computed ones."""
    return {
        **study,
        NUMBER_OF_STUDY_RELATED_SERIES: _count("IS", series_count),
        NUMBER_OF_STUDY_RELATED_INSTANCES: _count("IS", instance_count),
        MODALITIES_IN_STUDY: _values("CS", modalities),
        SOP_CLASSES_IN_STUDY: _values("UI", sop_classes),
    }


def series_row(study: DicomJson, series: DicomJson, *, instance_count: int) -> dict[str, Any]:
    """A SERIES-level row: the study's and the series' attributes plus the instance count."""
    return {
        **study,
        **series,
        NUMBER_OF_SERIES_RELATED_INSTANCES: _count("IS", instance_count),
    }


def instance_row(study: DicomJson, series: DicomJson, instance: DicomJson) -> dict[str, Any]:
    """An INSTANCE-level row: the study's, the series' and the instance's attributes."""
    return {**study, **series, **instance}
