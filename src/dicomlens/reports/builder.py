"""Build the analysis report of one instance: a Comprehensive 3D SR (PS3.3 A.35.13)
holding a TID 1500 Imaging Measurement Report.

- every finding box becomes a TID 1410 planar ROI group: an Image Region (SCOORD POLYLINE,
  closed, on the source's pixel grid; the analysed frame of a multi-frame instance), its
  finding type coded after the finding's kind, the analyzer as algorithm; never the text
  that was read (OCR text is PHI) nor a finding's message;
- every label becomes a qualitative evaluation in the report's Qualitative Evaluations
  container (TID 1500 row 12);
- the Patient, Clinical Trial Subject, General Study, Patient Study and Clinical Trial
  Study modules are copied from the source exactly: the report carries what the source
  carries, de-identified when the source is;
- its UIDs come from ``seed`` alone (:func:`report_uids`), so the same request makes the
  same instance again (a repeat replaces, never duplicates).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

import dicomlens
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.results import AnalysisResult, Box
from dicomlens.reports import codes
from dicomlens.reports.regions import box_polyline

_WHOLE = Box(left=0.0, top=0.0, width=1.0, height=1.0)
SERIES_NUMBER = 9901
SERIES_DESCRIPTION = "dicomlens analysis"
MANUFACTURER = "dicomlens"
_UID_NAMESPACE = uuid.UUID("6f1e7c2a-15d1-5c4e-9b0a-64a1c0de5e15")  # dicomlens reports

# PS3.3 C.7.1.1 Patient, C.7.1.3 Clinical Trial Subject, C.7.2.1 General Study,
# C.7.2.2 Patient Study, C.7.2.3 Clinical Trial Study: copied as they are in the source.
_COPIED_KEYWORDS = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence",
    "TypeOfPatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "QualityControlSubject",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "EthnicGroup",
    "PatientComments",
    "PatientSpeciesDescription",
    "PatientSpeciesCodeSequence",
    "PatientBreedDescription",
    "PatientBreedCodeSequence",
    "BreedRegistrationSequence",
    "ResponsiblePerson",
    "ResponsiblePersonRole",
    "ResponsibleOrganization",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "ClinicalTrialSponsorName",
    "ClinicalTrialProtocolID",
    "ClinicalTrialProtocolName",
    "ClinicalTrialSiteID",
    "ClinicalTrialSiteName",
    "ClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "ReferringPhysicianIdentificationSequence",
    "StudyID",
    "AccessionNumber",
    "IssuerOfAccessionNumberSequence",
    "StudyDescription",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence",
    "RequestingServiceCodeSequence",
    "ReferencedStudySequence",
    "ProcedureCodeSequence",
    "ReasonForPerformedProcedureCodeSequence",
    "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientSizeCodeSequence",
    "MedicalAlerts",
    "Allergies",
    "SmokingStatus",
    "PregnancyStatus",
    "LastMenstrualDate",
    "PatientState",
    "Occupation",
    "AdditionalPatientHistory",
    "AdmissionID",
    "IssuerOfAdmissionIDSequence",
    "ServiceEpisodeID",
    "ServiceEpisodeDescription",
    "ClinicalTrialTimePointID",
    "ClinicalTrialTimePointDescription",
    "ConsentForClinicalTrialUseSequence",
)


@dataclass(frozen=True, kw_only=True)
class ReportUids:
    """The report's Series and SOP Instance UIDs, and the UID its observer device and
    tracking identifiers derive from."""

    series_uid: str
    sop_uid: str
    device_uid: str
    seed: str


def report_uids(seed: str) -> ReportUids:
    """UIDs (``2.25.``, PS3.5 B.2) that depend on ``seed`` only: the same seed always
    gives the same report series and instance."""
    return ReportUids(
        series_uid=name_uid(seed, "series"),
        sop_uid=name_uid(seed, "instance"),
        device_uid=name_uid("dicomlens", "observer-device"),
        seed=seed,
    )


def name_uid(*parts: str) -> str:
    """The ``2.25.`` UID (PS3.5 B.2) of a name-based UUID (RFC 9562 version 5) of
    ``parts``: the same parts always give the same UID, and the UID reveals nothing of
    them. (pydicom's ``generate_uid(prefix=None)`` is random whatever its entropy.)"""
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, chr(31).join(parts)).int}"


def build_report(
    source: Dataset,
    result: AnalysisResult,
    *,
    uids: ReportUids,
    content_time: datetime,
) -> Dataset:
    """The SR data set reporting ``result`` of the instance ``source`` (see the module).

    NOT_AN_IMAGE when ``source`` has no pixel data (there is nothing a region could be
    drawn on); INVALID_DICOM when it lacks what an SR must reference (UIDs, Rows,
    Columns).
    """
    if "PixelData" not in source and "FloatPixelData" not in source:
        raise DicomlensError(ErrorCode.NOT_AN_IMAGE, "the instance holds no image to report on")
    try:
        rows, columns = int(source.Rows), int(source.Columns)
        for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"):
            str(source[keyword].value)
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, "the instance lacks the UIDs or size a report references"
        ) from exc
    try:
        return _build(source, result, uids=uids, content_time=content_time, size=(rows, columns))
    # highdicom validates what it is given; a value from the wild it refuses (a malformed
    # UID, a frame count that is no number) is the file's fault, said without the value
    except (ValueError, TypeError, AttributeError) as exc:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM,
            f"the instance holds values a report cannot reference ({type(exc).__name__})",
        ) from exc


def _build(
    source: Dataset,
    result: AnalysisResult,
    *,
    uids: ReportUids,
    content_time: datetime,
    size: tuple[int, int],
) -> Dataset:
    """The report of :func:`build_report` once ``source`` holds an image of ``size``."""
    rows, columns = size
    sop_class, sop_uid = str(source.SOPClassUID), str(source.SOPInstanceUID)
    frames = int(source.get("NumberOfFrames") or 1)
    frame = (result.representative_frame or 0) + 1 if frames > 1 else None
    region_source = hd.sr.SourceImageForRegion(
        referenced_sop_class_uid=sop_class,
        referenced_sop_instance_uid=sop_uid,
        referenced_frame_numbers=None if frame is None else [frame],
    )
    groups = _region_groups(result, region_source, uids=uids, rows=rows, columns=columns)
    if not groups:  # TID 1500 needs one group: the whole image, which the labels describe
        groups = [_whole_image_group(region_source, uids=uids, rows=rows, columns=columns)]
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_device_context=hd.sr.ObserverContext(
                observer_type=hd.sr.CodedConcept.from_code(codes.DEVICE),
                observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                    uid=uids.device_uid, name=MANUFACTURER
                ),
            )
        ),
        procedure_reported=codes.PROCEDURE_IMAGING,
        imaging_measurements=groups,
    )
    _add_label_evaluations(report, result)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[_evidence(source)],
        content=report,
        series_instance_uid=uids.series_uid,
        series_number=SERIES_NUMBER,
        sop_instance_uid=uids.sop_uid,
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
    )
    _copy_patient_and_study(source, sr)
    sr.SeriesDescription = SERIES_DESCRIPTION
    sr.ManufacturerModelName = "dicomlens analysis report"
    sr.SoftwareVersions = dicomlens.__version__
    stamp_date, stamp_time = content_time.strftime("%Y%m%d"), content_time.strftime("%H%M%S")
    for date_keyword, time_keyword in (
        ("ContentDate", "ContentTime"),
        ("SeriesDate", "SeriesTime"),
        ("InstanceCreationDate", "InstanceCreationTime"),
    ):
        setattr(sr, date_keyword, stamp_date)
        setattr(sr, time_keyword, stamp_time)
    _declare_private_scheme(sr)
    return sr


def _region_groups(
    result: AnalysisResult,
    region_source: hd.sr.SourceImageForRegion,
    *,
    uids: ReportUids,
    rows: int,
    columns: int,
) -> list[hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations]:
    """One planar ROI group per distinct box, in the result's order: its finding type is the
    first finding kind drawn there; the other kinds with the same box (burned-in text that is
    also suspected PHI) are qualitative evaluations (SCT Associated finding) of that region,
    so a viewer draws one outline, not one per kind."""
    kinds_by_box: dict[tuple[float, ...], list[tuple[str, str | None]]] = {}
    for finding in result.findings:
        for box in finding.boxes:
            kinds = kinds_by_box.setdefault((box.left, box.top, box.width, box.height), [])
            if finding.kind not in (kind for kind, _source in kinds):
                kinds.append((finding.kind, finding.source))
    groups: list[hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations] = []
    for (left, top, width, height), kinds in kinds_by_box.items():
        box = Box(left=left, top=top, width=width, height=height)
        points = box_polyline(box, rows=rows, columns=columns)
        if points is None:
            continue
        (kind, source), others = kinds[0], kinds[1:]
        number = len(groups) + 1
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=name_uid(uids.seed, "roi", str(number)),
                    identifier=f"{kind} {number}"[:64],
                ),
                referenced_region=hd.sr.ImageRegion(
                    graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                    graphic_data=points,
                    source_image=region_source,
                ),
                finding_type=codes.finding_type(kind),
                algorithm_id=hd.sr.AlgorithmIdentification(
                    name=f"dicomlens {source or 'analysis'}"[:64],
                    version=dicomlens.__version__,
                ),
                qualitative_evaluations=[
                    hd.sr.QualitativeEvaluation(
                        name=codes.ASSOCIATED_FINDING, value=codes.finding_type(other)
                    )
                    for other, _source in others
                ]
                or None,
            )
        )
    return groups


def _whole_image_group(
    region_source: hd.sr.SourceImageForRegion, *, uids: ReportUids, rows: int, columns: int
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    """The one group of a report without finding boxes: a region around the whole image
    (a group without a region is TID 1501, which OHIF 3.13 cannot load)."""
    outline = box_polyline(_WHOLE, rows=rows, columns=columns)
    if outline is None:
        raise DicomlensError(ErrorCode.INVALID_DICOM, "the instance has no rows or columns")
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=name_uid(uids.seed, "roi", "whole-image"), identifier="whole image"
        ),
        referenced_region=hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=outline,
            source_image=region_source,
        ),
        finding_type=codes.WHOLE_IMAGE,
    )


def _add_label_evaluations(report: hd.sr.MeasurementReport, result: AnalysisResult) -> None:
    """The labels as CODE items of a Qualitative Evaluations container at the report's
    root (TID 1500 row 12); none without labels."""
    items = []
    seen: set[tuple[str, str, str, str]] = set()
    for label in result.labels:
        name, value = codes.label_evaluation(label, result.summary.modality)
        key = (name.value, name.scheme_designator, value.value, value.scheme_designator)
        if key in seen:
            continue
        seen.add(key)
        items.append(
            hd.sr.CodeContentItem(
                name=name, value=value, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
            )
        )
    if not items:
        return
    container = hd.sr.ContainerContentItem(
        name=codes.QUALITATIVE_EVALUATIONS,
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
    )
    container.ContentSequence = hd.sr.ContentSequence(items)
    report[0].ContentSequence.append(container)


def _evidence(source: Dataset) -> Dataset:
    """``source``'s header (its pixels left out) with the patient and study attributes that
    highdicom reads and validates present and empty. Files from the wild lack some (Patient's
    Birth Date, Study ID) or hold values highdicom refuses (a Patient's Sex of ``X``); the
    report's values are copied from ``source`` afterwards, exactly
    (:func:`_copy_patient_and_study`). ``source`` itself is not changed."""
    evidence = Dataset()
    for element in source:
        if element.tag not in _PIXEL_TAGS:
            evidence.add(element)
    for keyword in _REQUIRED_EMPTY:
        if keyword in evidence:
            del evidence[keyword]  # its element is the source's own: never changed here
        setattr(evidence, keyword, "")
    return evidence


# Pixel Data, Float and Double Float Pixel Data: not needed to reference the image.
_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})


def _copy_patient_and_study(source: Dataset, sr: Dataset) -> None:
    """The source's patient and study attributes, exactly; ones the source lacks are
    removed from the report (highdicom writes some of them empty)."""
    for keyword in _COPIED_KEYWORDS:
        if keyword in source:
            sr[keyword] = copy.deepcopy(source[keyword])
        elif keyword in sr and keyword not in _REQUIRED_EMPTY:
            del sr[keyword]


# Type 2 attributes of the modules the report copies: present (empty) when the source lacks them.
_REQUIRED_EMPTY = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyDate",
        "StudyTime",
        "ReferringPhysicianName",
        "StudyID",
        "AccessionNumber",
    }
)


def _declare_private_scheme(sr: Dataset) -> None:
    """Declare ``99DCMLENS`` in the Coding Scheme Identification Sequence (PS3.3
    C.12.1.1.2), beside what highdicom declared."""
    present: Sequence[Dataset] = sr.get("CodingSchemeIdentificationSequence") or []
    if any(item.get("CodingSchemeDesignator") == codes.PRIVATE_SCHEME for item in present):
        return
    item = Dataset()
    item.CodingSchemeDesignator = codes.PRIVATE_SCHEME
    item.CodingSchemeName = codes.PRIVATE_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = codes.PRIVATE_SCHEME_RESPONSIBLE
    sr.CodingSchemeIdentificationSequence = DicomSequence([*present, item])
