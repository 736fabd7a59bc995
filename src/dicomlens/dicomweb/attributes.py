"""What the DICOMweb index keeps of an instance, and its WADO-RS /metadata, as DICOM JSON.

Both come from pydicom's own DICOM JSON (PS3.18 Annex F, ``Dataset.to_json_dict``): person
names as Alphabetic / Ideographic / Phonetic groups decoded with the file's Specific
Character Set, numbers as JSON numbers, binary values as ``InlineBinary`` or ``BulkDataURI``.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable
from datetime import datetime

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pydicom.valuerep import IS

from dicomlens.dicomweb.model import DicomJson, IndexedInstance
from dicomlens.domain.errors import DicomlensError, ErrorCode

# PS3.18 Table 10.6.1-5 (Study Root: the patient's keys belong to the study), Table 10.6.3-3
# (the study search response) and optional study/patient keys of PS3.4 C.6.2.1.2 that a
# viewer's study list shows. ModalitiesInStudy, SOPClassesInStudy and the study's counts
# are computed by the index over the study's instances, not read from one file.
STUDY_KEYWORDS: tuple[str, ...] = (
    "SpecificCharacterSet",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "IssuerOfAccessionNumberSequence",
    "ReferringPhysicianName",
    "TimezoneOffsetFromUTC",
    "StudyDescription",
    "NameOfPhysiciansReadingStudy",
    "AdmittingDiagnosesDescription",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "OtherPatientIDsSequence",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "EthnicGroup",
    "StudyInstanceUID",
    "StudyID",
)

# PS3.18 Table 10.6.1-5 (series keys) and Table 10.6.3-4 (the series search response), plus
# optional series keys of PS3.4 C.6.2.1.3. RequestAttributesSequence is returned with its
# items as the file has them (matching uses the two item keys Table 10.6.1-5 lists).
# NumberOfSeriesRelatedInstances is computed.
SERIES_KEYWORDS: tuple[str, ...] = (
    "SpecificCharacterSet",
    "Modality",
    "TimezoneOffsetFromUTC",
    "SeriesDescription",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDate",
    "SeriesTime",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "RequestAttributesSequence",
    "BodyPartExamined",
    "Laterality",
    "ProtocolName",
    "OperatorsName",
    "PerformingPhysicianName",
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
    "InstitutionName",
    "InstitutionalDepartmentName",
)
REQUEST_ATTRIBUTES_ITEM_KEYWORDS: tuple[str, ...] = (
    "ScheduledProcedureStepID",
    "RequestedProcedureID",
)

# PS3.18 Table 10.6.1-5 (instance keys) and Table 10.6.3-5 (the instance search response),
# plus optional instance keys of PS3.4 C.6.2.1.4.
INSTANCE_KEYWORDS: tuple[str, ...] = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "TimezoneOffsetFromUTC",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
    "ImageType",
    "ContentDate",
    "ContentTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionNumber",
    "PhotometricInterpretation",
    "SamplesPerPixel",
    "ContentLabel",
    "DocumentTitle",
    "ObservationDateTime",
    "CompletionFlag",
    "VerificationFlag",
    "ConceptNameCodeSequence",
)

# Pixel data (PS3.3 C.7.6.3): always bulk data, however small.
PIXEL_DATA_TAGS = frozenset({"7FE00010", "7FE00008", "7FE00009"})
# Bytes per word of the binary VRs whose values a big endian file holds byte-swapped.
_WORD_SIZE = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
_BULK_MARK = "\x00bulk"

_REQUIRED_UIDS = (
    ("StudyInstanceUID", "Study Instance UID"),
    ("SeriesInstanceUID", "Series Instance UID"),
    ("SOPInstanceUID", "SOP Instance UID"),
    ("SOPClassUID", "SOP Class UID"),
)


def index_record(
    ds: Dataset,
    *,
    blob_key: str,
    blob_version: str | None,
    metadata_key: str,
    job_id: str | None,
    size: int,
    stored_at: datetime,
) -> IndexedInstance:
    """The index's record of ``ds``: its UIDs, transfer syntax, instance number, frame count
    and the QIDO attributes of each level (``STUDY_KEYWORDS``, ``SERIES_KEYWORDS``,
    ``INSTANCE_KEYWORDS``) as DICOM JSON.

    An attribute absent from the file is absent from the JSON (the search response decides
    what to return empty). Raises INVALID_DICOM when a Study, Series or SOP Instance UID or
    the SOP Class UID is missing or not a valid UID; the message names the attribute only.
    """
    uids = {keyword: _required_uid(ds, keyword, name) for keyword, name in _REQUIRED_UIDS}
    return IndexedInstance(
        study_uid=uids["StudyInstanceUID"],
        series_uid=uids["SeriesInstanceUID"],
        sop_uid=uids["SOPInstanceUID"],
        sop_class_uid=uids["SOPClassUID"],
        transfer_syntax_uid=_transfer_syntax(ds),
        instance_number=_instance_number(ds),
        frame_count=_frame_count(ds),
        size=size,
        blob_key=blob_key,
        blob_version=blob_version,
        metadata_key=metadata_key,
        job_id=job_id,
        stored_at=stored_at,
        study=_level_json(ds, STUDY_KEYWORDS),
        series=_level_json(ds, SERIES_KEYWORDS),
        instance=_level_json(ds, INSTANCE_KEYWORDS),
    )


def metadata_json(ds: Dataset, *, bulk_threshold: int = 1024) -> DicomJson:
    """The whole data set of ``ds`` (file meta excluded) as DICOM JSON for WADO-RS /metadata.

    Pixel Data, Float and Double Float Pixel Data are always a ``BulkDataURI``; any other
    binary value (OB, OW, OF, OD, OL, OV, UN) whose base64 form would exceed
    ``bulk_threshold`` characters is one too (pydicom's rule), shorter ones are
    ``InlineBinary``. A BulkDataURI is relative to the instance's URL: ``bulk/7FE00010``,
    or through sequences ``bulk/00540016/0/00181072`` (tag / item index / tag).
    ``InlineBinary`` values are little endian, as PS3.18 F.2.7 asks, also for a big endian
    file. Private elements keep their Private Creator. An element pydicom cannot convert
    (a malformed value) is left out; nothing of it is logged.
    """
    json: DicomJson = {}
    for elem in _elements(ds):
        tag = f"{elem.tag:08X}"
        try:
            json[tag] = elem.to_json_dict(
                bulk_data_element_handler=_mark_bulk, bulk_data_threshold=bulk_threshold
            )
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError):
            continue
    for tag in PIXEL_DATA_TAGS & json.keys():
        json[tag].pop("InlineBinary", None)
        if "BulkDataURI" not in json[tag] and _has_value(ds, tag):
            json[tag]["BulkDataURI"] = _BULK_MARK
    big_endian = ds.original_encoding[1] is False
    _settle_binary(json, path="bulk", big_endian=big_endian)
    return json


def with_absolute_bulk_uris(meta: DicomJson, instance_url: str) -> DicomJson:
    """A copy of ``meta`` whose relative BulkDataURIs (``bulk/...``, at any depth) are made
    absolute under ``instance_url`` (``{instance_url}/bulk/...``). Absolute URIs are kept."""
    root = instance_url.rstrip("/")
    out: DicomJson = copy.deepcopy(meta)
    _absolutize(out, root)
    return out


def _absolutize(json: DicomJson, root: str) -> None:
    for element in json.values():
        uri = element.get("BulkDataURI")
        if isinstance(uri, str) and "://" not in uri and not uri.startswith("/"):
            element["BulkDataURI"] = f"{root}/{uri}"
        if element.get("vr") == "SQ":
            for item in element.get("Value", ()):
                _absolutize(item, root)


def _elements(ds: Dataset) -> Iterable[DataElement]:
    # ds[tag] converts a raw element with the data set's character set (as to_json_dict does)
    for tag in sorted(ds.keys()):
        try:
            yield ds[tag]
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError):
            continue


def _mark_bulk(_elem: DataElement) -> str:
    # The handler cannot know where in the data set the element is: _settle_binary replaces
    # the mark by the element's tag path.
    return _BULK_MARK


def _has_value(ds: Dataset, tag: str) -> bool:
    elem = ds.get(int(tag, 16))
    return elem is not None and not elem.is_empty


def _settle_binary(json: DicomJson, *, path: str, big_endian: bool) -> None:
    """Replace bulk marks by their ``bulk/{tagpath}`` and swap big endian InlineBinary."""
    for tag, element in json.items():
        if element.get("BulkDataURI") == _BULK_MARK:
            element["BulkDataURI"] = f"{path}/{tag}"
        elif big_endian and "InlineBinary" in element and element.get("vr") in _WORD_SIZE:
            element["InlineBinary"] = _swapped(element["InlineBinary"], _WORD_SIZE[element["vr"]])
        if element.get("vr") == "SQ":
            for index, item in enumerate(element.get("Value", ())):
                _settle_binary(item, path=f"{path}/{tag}/{index}", big_endian=big_endian)


def _swapped(inline: str, word: int) -> str:
    raw = base64.b64decode(inline)
    if len(raw) % word:
        return inline
    swapped = np.frombuffer(raw, dtype=f">u{word}").astype(f"<u{word}").tobytes()
    return base64.b64encode(swapped).decode("ascii")


def _required_uid(ds: Dataset, keyword: str, name: str) -> str:
    elem = ds.get(keyword) if keyword in ds else None
    value = str(elem).strip() if elem is not None else ""
    if not value:
        raise DicomlensError(ErrorCode.INVALID_DICOM, f"the DICOM file has no {name}")
    if not UID(value).is_valid:
        raise DicomlensError(ErrorCode.INVALID_DICOM, f"the DICOM file's {name} is not a UID")
    return value


def _transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    uid = str(meta.get("TransferSyntaxUID", "")).strip() if meta is not None else ""
    if uid and UID(uid).is_valid:
        return uid
    # No file meta (a bare data set): the encoding pydicom read it with.
    implicit, little = ds.original_encoding
    if implicit:
        return str(ImplicitVRLittleEndian)
    return str(ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian)


def _instance_number(ds: Dataset) -> int | None:
    value = ds.get("InstanceNumber") if "InstanceNumber" in ds else None
    try:
        return int(IS(value)) if value not in (None, "") else None
    except (ValueError, TypeError, OverflowError):
        return None


def _frame_count(ds: Dataset) -> int:
    """NumberOfFrames when valid; 1 for an image without it; 0 for a non-image (SR ...)."""
    try:
        frames = int(IS(ds.get("NumberOfFrames"))) if ds.get("NumberOfFrames") else 0
    except (ValueError, TypeError, OverflowError):
        frames = 0
    if frames > 0:
        return frames
    is_image = "Rows" in ds or any(int(t, 16) in ds for t in PIXEL_DATA_TAGS)
    return 1 if is_image else 0


def _level_json(ds: Dataset, keywords: Iterable[str]) -> DicomJson:
    """The attributes ``keywords`` of ``ds`` present in it, as DICOM JSON."""
    part = Dataset()
    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        if tag is None or tag not in ds:
            continue
        try:
            elem = ds[tag]
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError):
            continue
        part.add(elem)
    return metadata_json(part)
