"""The PS3.15 Annex E Basic Application Level Confidentiality Profile and its options.

The attribute list of Table E.1-1 (with each attribute's basic-profile action) is the one
that the ``dicom-anonymizer`` package (KitwareMedical) ships, transcribed from the standard's
2026c edition (``dicomanonymizer.dicom_anonymization_databases.dicomfields_2026c``), plus the
current rows that transcription misses (:mod:`dicomlens.deid.table_e11_additions`). That
package's own engine is not used: it works on the top level only, draws random UIDs and has
no profile options. The option columns of Table E.1-1 that the package does not carry are
encoded here from the standard (PS3.15 E.3.5 to E.3.10), and the codes written into
Deidentification Method Code Sequence come from CID 7050 (PS3.16).

Why this package: of the PyPI candidates, ``dicognito`` pseudonymises well (salted, consistent
UIDs and dates) but follows its own attribute list, not Table E.1-1, and has no profile
options or CID 7050 codes; ``deid`` (pydicom/deid) applies recipes whose default list is
not the table either. ``dicom-anonymizer`` is the one that ships the table itself, kept
current with the standard's editions (2023, 2024b, 2026c).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pydicom.datadict import tag_for_keyword

from dicomlens.deid.options import Longitudinal, PixelText, RegionRule
from dicomlens.deid.table_e11_additions import ADDED_ROWS

TABLE_EDITION = "2026c"


class Action(StrEnum):
    """Table E.1-1 action codes (PS3.15 E.1.1)."""

    D = "D"  # replace with a non-zero length dummy value consistent with the VR
    Z = "Z"  # replace with a zero length value (or a dummy value)
    X = "X"  # remove
    K = "K"  # keep
    C = "C"  # clean: keep the value, remove identifying information from it
    U = "U"  # replace with a consistent, non-zero length UID
    ZD = "Z/D"
    XZ = "X/Z"
    XD = "X/D"
    XZD = "X/Z/D"
    XZU = "X/Z/U*"


_CATEGORIES: Mapping[str, Action] = {
    "D_TAGS": Action.D,
    "Z_TAGS": Action.Z,
    "X_TAGS": Action.X,
    "U_TAGS": Action.U,
    "Z_D_TAGS": Action.ZD,
    "X_Z_TAGS": Action.XZ,
    "X_D_TAGS": Action.XD,
    "X_Z_D_TAGS": Action.XZD,
    "X_Z_U_STAR_TAGS": Action.XZU,
}


@functools.cache
def basic_profile_table() -> Mapping[int, Action]:
    """Table E.1-1 as ``{tag: action}`` for every individually listed attribute.

    The table's repeating-group rows (Curve Data 50xx, Overlay Data and Comments 60xx) are
    not in the mapping: whole curve and overlay groups are removed (see
    :func:`is_curve_or_overlay`).
    """
    # Imported on first use: the package's __init__ pulls in its engine and tqdm (~40 ms),
    # which settings and the API's cold start do not need.
    table = importlib.import_module(
        "dicomanonymizer.dicom_anonymization_databases.dicomfields_" + TABLE_EDITION
    )
    actions: dict[int, Action] = {}
    for category, action in _CATEGORIES.items():
        for entry in getattr(table, category):
            if len(entry) == 2:
                actions[(entry[0] << 16) | entry[1]] = action
    for tag, row in ADDED_ROWS.items():
        actions[tag] = Action(row.basic)
    return actions


def is_curve_or_overlay(tag: int) -> bool:
    """Curve (50xx, retired) and overlay (60xx) groups, which the profile removes."""
    group = tag >> 16
    return (group & 0xFF00) in (0x5000, 0x6000) and group % 2 == 0


def _tags(*keywords: str) -> frozenset[int]:
    tags = set()
    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise KeyError(keyword)
        tags.add(int(tag))
    return frozenset(tags)


# PS3.15 E.3.9, Table E.1-1 "Rtn. Pat. Chars. Opt." column: K, or C for the free-text ones.
PATIENT_CHARACTERISTICS_KEEP = _tags(
    "PatientAge",
    "PatientSex",
    "PatientSize",
    "PatientWeight",
    "EthnicGroup",
    "SmokingStatus",
    "PregnancyStatus",
    "PatientSexNeutered",
)
PATIENT_CHARACTERISTICS_CLEAN = _tags(
    "Allergies", "MedicalAlerts", "SpecialNeeds", "AdditionalPatientHistory", "PatientState"
)

# PS3.15 E.3.8, "Rtn. Dev. Id. Opt." column.
DEVICE_IDENTITY_KEEP = _tags(
    "StationName",
    "DeviceSerialNumber",
    "DeviceUID",
    "DetectorID",
    "GantryID",
    "PlateID",
    "CassetteID",
    "GeneratorID",
    "SourceSerialNumber",
    "TreatmentMachineName",
    "ScheduledStationName",
    "PerformedStationName",
    "ScheduledStationAETitle",
    "PerformedStationAETitle",
    "DeviceLabel",
    "DeviceDescription",
    "ManufacturerDeviceIdentifier",
    "DeviceAlternateIdentifier",
    "XRayDetectorID",
    "XRayDetectorLabel",
    "XRaySourceID",
    "UniqueDeviceIdentifier",
)

# PS3.15 E.3.5, "Clean Desc. Opt." column.
DESCRIPTORS_CLEAN = _tags(
    "StudyDescription",
    "SeriesDescription",
    "ImageComments",
    "ProtocolName",
    "PerformedProcedureStepDescription",
    "RequestedProcedureDescription",
    "ScheduledProcedureStepDescription",
    "AcquisitionComments",
    "AcquisitionDeviceProcessingDescription",
    "AdmittingDiagnosesDescription",
    "DerivationDescription",
    "DischargeDiagnosisDescription",
    "FrameComments",
    "IdentifyingComments",
    "PatientComments",
    "RequestedContrastAgent",
    "ResultsComments",
    "ServiceEpisodeDescription",
    "StudyComments",
    "VisitComments",
    "ReasonForTheRequestedProcedure",
    "ContrastBolusAgent",
    "AdditionalPatientHistory",
) | frozenset(tag for tag, row in ADDED_ROWS.items() if row.clean_descriptors)

# Dates and times that stay removed or emptied under the longitudinal option: the birth date
# identifies, and age is what the Retain Patient Characteristics option keeps.
NEVER_RETAINED_DATES = _tags("PatientBirthDate", "PatientBirthTime")

# Gaps the table leaves that this implementation closes (see :mod:`dicomlens.deid.attributes`):
# free text of structured reports, which only the Clean Structured Content option may keep.
GAP_FILL_DUMMY = _tags("TextValue")

# PS3.16 CID 7050 "De-identification Method" (scheme DCM).
CID_7050: Mapping[str, tuple[str, str]] = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean_pixel_data": ("113101", "Clean Pixel Data Option"),
    "clean_graphics": ("113103", "Clean Graphics Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "dates_full": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "dates_modified": (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "device_identity": ("113109", "Retain Device Identity Option"),
    "uids": ("113110", "Retain UIDs Option"),
    "safe_private": ("113111", "Retain Safe Private Option"),
}


@dataclass(frozen=True, kw_only=True)
class ProfileOptions:
    """What to keep beyond the Basic Profile, and how to transform what changes.

    ``secret`` keys the UID remapping, the date offsets and the patient pseudonyms: the same
    input and the same secret always give the same output. ``safe_private_tags`` lists
    private attributes to keep as ``"gggg,CREATOR,ee"`` (group, private creator, element
    offset within the creator's block, hexadecimal).
    """

    secret: bytes
    longitudinal: Longitudinal = "off"
    max_date_shift_days: int = 3650
    retain_patient_characteristics: bool = False
    retain_device_identity: bool = False
    clean_descriptors: bool = False
    retain_uids: bool = False
    safe_private_tags: frozenset[str] = field(default_factory=frozenset)
    pixel_text: PixelText = "required"
    region_rules: tuple[RegionRule, ...] = ()

    def applied_codes(self, *, pixels_cleaned: bool) -> list[tuple[str, str]]:
        """The CID 7050 codes of the profile and options this configuration applies."""
        keys = ["basic", "clean_graphics"]
        if pixels_cleaned:
            keys.append("clean_pixel_data")
        if self.clean_descriptors:
            keys.append("clean_descriptors")
        if self.longitudinal == "full":
            keys.append("dates_full")
        elif self.longitudinal == "shifted":
            keys.append("dates_modified")
        if self.retain_patient_characteristics:
            keys.append("patient_characteristics")
        if self.retain_device_identity:
            keys.append("device_identity")
        if self.retain_uids:
            keys.append("uids")
        if self.safe_private_tags:
            keys.append("safe_private")
        return [CID_7050[key] for key in keys]


def parse_safe_private_tag(entry: str) -> tuple[int, str, int]:
    """``"0019,GEMS_ACQU_01,0B"`` -> ``(0x0019, "GEMS_ACQU_01", 0x0B)``."""
    parts = entry.split(",")
    if len(parts) < 3:
        raise ValueError(f"a safe private tag is 'gggg,CREATOR,ee', not {entry!r}")
    creator = ",".join(parts[1:-1]).strip()
    return int(parts[0], 16), creator, int(parts[-1], 16)
