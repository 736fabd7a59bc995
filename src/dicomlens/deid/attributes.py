"""Attribute confidentiality: Table E.1-1 actions applied to every element, recursively.

Beyond the table (PS3.15 E.1.1 leaves these to the implementation):

* every UI value that is not a registered (well-known) UID is remapped, wherever it is, so
  references inside sequences follow the instances they point to;
* person names the table does not list are emptied;
* private attributes are removed unless listed as safe (E.3.10), with their creators;
* overlay (60xx) and curve (50xx) groups and group lengths are removed.

Compound actions (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) are resolved without knowing the IOD's type
for the attribute, towards the choice that keeps a conformant file valid: X/Z and X/Z/D
empty the value, X/D and Z/D put a dummy value, X/Z/U* keeps the sequence with its UIDs
remapped.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from dicomlens.deid.dates import patient_offset_days, shift_date, shift_datetime
from dicomlens.deid.profile import (
    DESCRIPTORS_CLEAN,
    DEVICE_IDENTITY_KEEP,
    GAP_FILL_DUMMY,
    NEVER_RETAINED_DATES,
    PATIENT_CHARACTERISTICS_CLEAN,
    PATIENT_CHARACTERISTICS_KEEP,
    Action,
    ProfileOptions,
    basic_profile_table,
    is_curve_or_overlay,
    parse_safe_private_tag,
)
from dicomlens.deid.uids import remap_uid

DUMMY_TEXT = "DEIDENTIFIED"
_DUMMY_BY_VR: dict[str, object] = {
    "AE": "DEIDENTIFIED",
    "AS": "000Y",
    "CS": "DEIDENTIFIED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "UR": "urn:deidentified",
    "AT": 0,
}
_NUMBER_VRS = frozenset({"FL", "FD", "SL", "SS", "UL", "US", "SV", "UV"})
_BYTES_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_DATE_VRS = frozenset({"DA", "DT", "TM"})
_DATE_PATTERN = re.compile(r"\b\d{4}[-/.]?\d{2}[-/.]?\d{2}\b")


@dataclass(frozen=True, kw_only=True)
class PatientContext:
    """What the profile needs to know about the patient before anything is changed."""

    pseudonym: str
    date_offset_days: int
    identifiers: tuple[str, ...]


def patient_context(ds: Dataset, options: ProfileOptions) -> PatientContext:
    """The patient's pseudonym, date offset and the identifying strings to clean from text."""
    patient_id = str(ds.get("PatientID", "") or "").strip()
    issuer = str(ds.get("IssuerOfPatientID", "") or "").strip()
    name = str(ds.get("PatientName", "") or "").strip()
    birth = str(ds.get("PatientBirthDate", "") or "").strip()
    key = f"{issuer}|{patient_id}" if patient_id else f"{name}|{birth}"
    if not patient_id and not name:
        key = str(ds.get("StudyInstanceUID", "") or "")
    digest = hmac.new(options.secret, b"patient:" + key.encode(), hashlib.sha256).hexdigest()
    identifiers = {patient_id, birth, str(ds.get("AccessionNumber", "") or "")}
    identifiers.update(part for part in re.split(r"[\^= ]+", name) if len(part) >= 2)
    for keyword in ("InstitutionName", "ReferringPhysicianName", "OtherPatientIDs"):
        value = ds.get(keyword)
        if value:
            identifiers.update(re.split(r"[\^= \\]+", str(value)))
    return PatientContext(
        pseudonym="DL" + digest[:14].upper(),
        date_offset_days=patient_offset_days(
            key, options.secret, max_days=options.max_date_shift_days
        ),
        identifiers=tuple(sorted((i for i in identifiers if len(i) >= 2), key=len, reverse=True)),
    )


class AttributeProfile:
    """Table E.1-1 with the configured options, applied to one dataset at a time."""

    def __init__(self, options: ProfileOptions) -> None:
        self.options = options
        self.table = basic_profile_table()
        self.safe_private = frozenset(
            parse_safe_private_tag(entry) for entry in options.safe_private_tags
        )

    def apply(self, ds: Dataset, patient: PatientContext) -> None:
        """De-identify ``ds`` in place (the file meta group is rebuilt by the caller)."""
        self._clean(ds, patient)

    # ------------------------------------------------------------------ per element

    def action_for(self, tag: int, vr: str) -> Action | None:
        """The effective action for one public attribute (None = keep)."""
        options = self.options
        base = self.table.get(tag)
        if base is None:
            if vr == "UI":
                return None if options.retain_uids or _is_class_uid(tag) else Action.U
            if vr == "PN":
                return Action.Z
            if tag in GAP_FILL_DUMMY:
                return Action.D
            return None
        if base == Action.U and options.retain_uids:
            return None
        if options.retain_device_identity and tag in DEVICE_IDENTITY_KEEP:
            return None
        if options.retain_patient_characteristics:
            if tag in PATIENT_CHARACTERISTICS_KEEP:
                return None
            if tag in PATIENT_CHARACTERISTICS_CLEAN:
                return Action.C
        if options.clean_descriptors and tag in DESCRIPTORS_CLEAN:
            return Action.C
        if vr in _DATE_VRS and tag not in NEVER_RETAINED_DATES:
            if options.longitudinal == "full":
                return None
            if options.longitudinal == "shifted":
                return Action.C  # dates are "cleaned" by shifting them
        return base

    def _clean(self, ds: Dataset, patient: PatientContext) -> None:
        for elem in list(ds):
            tag = int(elem.tag)
            if elem.tag.element == 0 or is_curve_or_overlay(tag):
                del ds[tag]
                continue
            if elem.tag.is_private:
                if not self._is_safe_private(ds, elem):
                    del ds[tag]
                    continue
            else:
                action = self.action_for(tag, elem.VR)
                if action is not None and not self._apply(ds, elem, action, patient):
                    continue
            if elem.VR == "SQ" and elem.value is not None:
                for item in elem.value:
                    self._clean(item, patient)

    def _apply(
        self, ds: Dataset, elem: DataElement, action: Action, patient: PatientContext
    ) -> bool:
        """Apply ``action``; False when the element was removed."""
        tag = int(elem.tag)
        resolved = _resolve_compound(action, elem)
        if resolved is None:
            return True
        action = resolved
        if action == Action.X:
            del ds[tag]
            return False
        if action == Action.Z:
            elem.value = Sequence() if elem.VR == "SQ" else None
        elif action == Action.U:
            if elem.VR == "UI":
                _map_values(elem, lambda uid: remap_uid(uid, self.options.secret))
            elif elem.VR != "SQ":
                self._dummy(elem, patient)
        elif action == Action.D:
            self._dummy(elem, patient)
        elif action == Action.C:
            self._clean_value(elem, patient)
        return True

    def _dummy(self, elem: DataElement, patient: PatientContext) -> None:
        vr = elem.VR
        if vr == "SQ":
            return  # kept; its items are cleaned element by element
        if int(elem.tag) == 0x00100020:  # Patient ID: a keyed pseudonym keeps patients apart
            elem.value = patient.pseudonym
        elif vr == "UI":
            _map_values(elem, lambda uid: remap_uid(uid, self.options.secret))
        elif vr in ("DA", "DT") and self.options.longitudinal == "shifted":
            self._clean_value(elem, patient)
        elif vr in _DUMMY_BY_VR:
            elem.value = _DUMMY_BY_VR[vr]
        elif vr in _NUMBER_VRS:
            elem.value = 0
        elif vr in _BYTES_VRS:
            elem.value = b"\x00" * 8
        else:
            elem.value = DUMMY_TEXT

    def _clean_value(self, elem: DataElement, patient: PatientContext) -> None:
        vr = elem.VR
        days = patient.date_offset_days
        if vr == "DA":
            _map_values(elem, lambda v: shift_date(v, days) or _DUMMY_BY_VR["DA"])
        elif vr == "DT":
            _map_values(elem, lambda v: shift_datetime(v, days) or _DUMMY_BY_VR["DT"])
        elif vr == "TM":
            return  # whole-day shifts keep times of day
        elif vr in ("LO", "LT", "SH", "ST", "UC", "UT", "PN"):
            _map_values(elem, lambda v: clean_text(v, patient.identifiers))
        elif vr == "SQ":
            return
        else:
            self._dummy(elem, patient)

    def _is_safe_private(self, ds: Dataset, elem: DataElement) -> bool:
        if not self.safe_private:
            return False
        group, element = elem.tag.group, elem.tag.element
        if 0x0010 <= element <= 0x00FF:  # a private creator: kept when a safe tag needs it
            return any(g == group and c == str(elem.value) for g, c, _ in self.safe_private)
        creator_tag = (group << 16) | (element >> 8)
        if creator_tag not in ds:
            return False
        creator = ds[creator_tag]
        return (group, str(creator.value), element & 0xFF) in self.safe_private


def _resolve_compound(action: Action, elem: DataElement) -> Action | None:
    """X/Z, X/D, Z/D, X/Z/D and X/Z/U* for this element (None = leave as it is).

    The IOD's type for the attribute is not known here, so the value decides: an empty value
    stays empty (Z allows it); a sequence with items keeps them, cleaned element by element
    (its UIDs remapped), since a Type 1 sequence must not be emptied; a value that was
    present gets a dummy (D) where D is allowed, else it is emptied (Z).
    """
    if action in (Action.D, Action.Z, Action.X, Action.K, Action.C, Action.U):
        return action
    if elem.VR == "SQ":
        return None if elem.value else Action.Z
    if action == Action.XZU:
        return Action.U if elem.VR == "UI" else Action.Z
    if elem.value in (None, "", b""):
        return None
    return Action.Z if action == Action.XZ else Action.D


def clean_text(value: str, identifiers: Iterable[str]) -> str:
    """``value`` without the patient's identifiers and without dates."""
    text = str(value)
    for identifier in identifiers:
        text = re.sub(re.escape(identifier), "", text, flags=re.IGNORECASE)
    text = _DATE_PATTERN.sub("", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _map_values(elem: DataElement, function: object) -> None:
    value = elem.value
    if value is None or value == "":
        return
    if isinstance(value, (list, MultiValue)):
        elem.value = [function(str(v)) for v in value]  # type: ignore[operator]
    else:
        elem.value = function(str(value))  # type: ignore[operator]


def _is_class_uid(tag: int) -> bool:
    """Class, transfer syntax and coding scheme UIDs name kinds of things, not instances."""
    keyword = keyword_for_tag(tag) or ""
    return "ClassUID" in keyword or keyword.endswith(
        ("TransferSyntaxUID", "CodingSchemeUID", "TransferSyntaxUIDInFile")
    )
