"""Attribute confidentiality: Table E.1-1 actions applied to every element, recursively.

Beyond the table (PS3.15 E.1.1 leaves these to the implementation), safe by default:

* every UI value that is not a registered (well-known) UID is remapped, wherever it is, so
  references inside sequences follow the instances they point to;
* person names the table does not list are emptied;
* every date and time (DA, DT, TM) follows the date option wherever it is: removed
  (``off``), kept (``full``) or shifted by the patient's offset (``shifted``; times kept);
* other attributes outside the table are kept only when :mod:`dicomlens.deid.safe_list`
  says they are safe; unknown and UN attributes, and free text not on that list, are removed;
* private attributes are removed unless listed as safe (E.3.10), with their creators;
* overlay (60xx) and curve (50xx) groups and group lengths are removed;
* text that is kept is searched for the file's identifiers (:mod:`dicomlens.deid.identifiers`)
  and cleaned where one shows up.

Compound actions (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) are resolved without knowing the IOD's type
for the attribute, towards the choice that keeps a conformant file valid: X/Z and X/Z/D
empty the value, X/D and Z/D put a dummy value, X/Z/U* keeps the sequence with its UIDs
remapped.

The patient is keyed on the Patient ID alone (see :func:`patient_key`), so that every file
of one patient gets one pseudonym and one date offset whatever else differs between them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from pydicom.datadict import dictionary_has_tag, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from dicomlens.deid.dates import patient_offset_days, shift_date, shift_datetime
from dicomlens.deid.identifiers import Identifiers, collect_identifiers
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
from dicomlens.deid.safe_list import outside_table_action
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
_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UT"})
_SCRUBBED_VRS = _TEXT_VRS | {"DS", "IS"}


@dataclass(frozen=True, kw_only=True)
class PatientContext:
    """What the profile needs to know about the patient before anything is changed."""

    pseudonym: str
    date_offset_days: int
    identifiers: Identifiers


def patient_key(ds: Dataset) -> str:
    """The key one patient's pseudonym and date offset derive from.

    The Patient ID alone, normalised: surrounding spaces (and NUL padding) stripped and
    letters upper-cased, since systems differ in padding and case. Leading zeros are kept:
    ``00123`` and ``123`` may be different patients, and merging two people is worse than
    splitting one. Issuer of Patient ID is not part of the key: files of one study that
    differ only in carrying it must not get two pseudonyms. Without a Patient ID the key is
    the (normalised) name and birth date, and without those the Study Instance UID.
    """
    patient_id = str(ds.get("PatientID", "") or "").strip(" \x00").upper()
    if patient_id:
        return "id:" + patient_id
    name = re.sub(r"\s+", " ", str(ds.get("PatientName", "") or "")).strip(" ^").upper()
    birth = str(ds.get("PatientBirthDate", "") or "").strip()
    if name:
        return f"name:{name}|{birth}"
    return "study:" + str(ds.get("StudyInstanceUID", "") or "")


def patient_context(ds: Dataset, options: ProfileOptions) -> PatientContext:
    """The patient's pseudonym, date offset and the identifiers to clean from text."""
    key = patient_key(ds)
    digest = hmac.new(options.secret, b"patient:" + key.encode(), hashlib.sha256).hexdigest()
    return PatientContext(
        pseudonym="DL" + digest[:14].upper(),
        date_offset_days=patient_offset_days(
            key, options.secret, max_days=options.max_date_shift_days
        ),
        identifiers=collect_identifiers(ds, basic_profile_table()),
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
            return self._outside_table(tag, vr)
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

    def _outside_table(self, tag: int, vr: str) -> Action | None:
        """Safe by default: see the module docstring and :mod:`dicomlens.deid.safe_list`."""
        if vr == "UN" or not dictionary_has_tag(tag):
            return Action.X
        if vr == "UI":
            return None if self.options.retain_uids or _is_class_uid(tag) else Action.U
        if vr == "PN":
            return Action.Z
        if tag in GAP_FILL_DUMMY:
            return Action.D
        if vr in _DATE_VRS:
            longitudinal = self.options.longitudinal
            if longitudinal == "full" or (longitudinal == "shifted" and vr == "TM"):
                return None
            return Action.C if longitudinal == "shifted" else Action.X
        outside = outside_table_action(tag, vr)
        return None if outside is None else Action(outside)

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
                if action is None:
                    self._scrub(elem, patient)
                elif not self._apply(ds, elem, action, patient):
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
            _map_values(elem, patient.identifiers.clean)
        elif vr == "SQ":
            return
        else:
            self._dummy(elem, patient)

    def _scrub(self, elem: DataElement, patient: PatientContext) -> None:
        """A kept text value from outside the table that shows one of the file's identifiers
        loses it (a coded value, which cannot be shortened meaningfully, becomes the dummy;
        a number written as text that spells an ID or a date becomes 0). Table attributes
        kept by an option are kept as the option promises."""
        tag = int(elem.tag)
        vr = elem.VR
        if vr not in _SCRUBBED_VRS or tag == 0x00080005 or tag in self.table:
            return
        identifiers = patient.identifiers

        def scrub(value: str) -> str:
            if vr in ("DS", "IS"):
                digits = value.strip().lstrip("+-")
                # Only whole numbers of 4+ digits can spell an ID or a date.
                if len(digits) < 4 or not digits.isdigit():
                    return value
                return "0" if identifiers.found_in(digits) else value
            if not identifiers.found_in(value):
                return value
            return DUMMY_TEXT if vr in ("CS", "AE") else identifiers.clean(value)

        _map_values(elem, scrub)

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
