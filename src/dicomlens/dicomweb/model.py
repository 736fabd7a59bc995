"""The DICOMweb index's values: one indexed instance, and a parsed QIDO-RS query.

Pure data (no pydicom, no I/O): the adapters of :class:`dicomlens.ports.InstanceIndex`
store and return these, the DICOMweb service builds them. Attribute sets are DICOM JSON
(PS3.18 F.2: ``{"0020000D": {"vr": "UI", "Value": ["1.2..."]}}``), each element keyed by
its tag as eight upper-case hex digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

DicomJson = dict[str, Any]
"""A data set in the DICOM JSON model (PS3.18 F.2), keyed by eight upper-case hex digits."""

# Tags used as keys everywhere (eight upper-case hex digits, as in DICOM JSON).
STUDY_INSTANCE_UID = "0020000D"
SERIES_INSTANCE_UID = "0020000E"
SOP_INSTANCE_UID = "00080018"
SOP_CLASS_UID = "00080016"
NUMBER_OF_STUDY_RELATED_SERIES = "00201206"
NUMBER_OF_STUDY_RELATED_INSTANCES = "00201208"
NUMBER_OF_SERIES_RELATED_INSTANCES = "00201209"
MODALITIES_IN_STUDY = "00080061"
SOP_CLASSES_IN_STUDY = "00080062"


class QueryLevel(StrEnum):
    """The QIDO-RS resource a query searches (PS3.18 10.6)."""

    STUDY = "STUDY"
    SERIES = "SERIES"
    INSTANCE = "IMAGE"


class PutOutcome(StrEnum):
    """What indexing an instance did."""

    CREATED = "CREATED"  # a SOP Instance UID the index did not hold
    REPLACED = "REPLACED"  # the same SOP Instance UID was indexed before: now this one


@dataclass(frozen=True, kw_only=True)
class IndexedInstance:
    """One stored SOP instance as the index holds it.

    ``study``, ``series`` and ``instance`` are the QIDO attributes of each level (PS3.18
    Table 10.6.1-5 plus the default return attributes of 10.6.3.3; the patient's attributes
    belong to ``study``), in DICOM JSON. The instance's bytes are the blob at ``blob_key``
    (version ``blob_version`` where the store keeps versions); its full metadata (PS3.18
    /metadata, bulk data as ``BulkDataURI`` relative to the instance) is the blob at
    ``metadata_key``. ``job_id`` is the processing job that analyses it (preview, labels,
    findings), when there is one.
    """

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    instance_number: int | None
    frame_count: int
    size: int
    blob_key: str
    blob_version: str | None
    metadata_key: str
    job_id: str | None
    stored_at: datetime
    study: DicomJson = field(default_factory=dict)
    series: DicomJson = field(default_factory=dict)
    instance: DicomJson = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AttributeFilter:
    """One QIDO matching key: the attribute (tag, VR) and its value as the query gave it.

    ``value`` is the raw query value after percent-decoding: a single value, a
    backslash-separated UID list, a ``*``/``?`` wildcard pattern, a ``from-to`` range of
    dates or times, or the empty string (universal matching: the attribute is returned).
    """

    tag: str
    vr: str
    value: str


@dataclass(frozen=True, kw_only=True)
class QidoQuery:
    """A parsed QIDO-RS request.

    ``study_uid`` / ``series_uid`` come from the path (``/studies/{study}/series``);
    ``include_all`` is ``includefield=all``; ``include_tags`` the other includefield
    attributes (tags). ``limit`` None means "no limit asked for" (the service applies its
    own maximum).
    """

    level: QueryLevel
    study_uid: str | None = None
    series_uid: str | None = None
    filters: tuple[AttributeFilter, ...] = ()
    include_tags: tuple[str, ...] = ()
    include_all: bool = False
    fuzzy: bool = False
    limit: int | None = None
    offset: int = 0
