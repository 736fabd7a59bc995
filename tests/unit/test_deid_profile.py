"""The attribute profile against PS3.15 Table E.1-1, and its options."""

from __future__ import annotations

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from corpus.planted import PLANTED, full_table_dataset
from dicomlens.deid.attributes import AttributeProfile, patient_context
from dicomlens.deid.pipeline import deidentify_dataset
from dicomlens.deid.profile import TABLE_EDITION, Action, ProfileOptions, basic_profile_table
from dicomlens.deid.table_e11_additions import ADDED_ROWS
from dicomlens.deid.uids import remap_uid

SECRET = b"unit-test-secret"


def _obeyed(action: Action, before: object, after: Dataset, tag: int) -> bool:
    if tag not in after:
        return action in (Action.X, Action.XZ, Action.XD, Action.XZD, Action.XZU)
    value = after[tag].value
    if action == Action.X:
        return False
    if after[tag].VR == "SQ":  # kept only with its items cleaned
        return all("TextValue" not in item or item.TextValue != PLANTED for item in value)
    if action in (Action.Z, Action.XZ):
        return value in (None, "", b"")
    return value != before  # D, U, Z/D, X/D, X/Z/D, X/Z/U*: replaced


def test_every_table_e1_1_attribute_gets_its_action() -> None:
    """Given a dataset holding every attribute of Table E.1-1 (individual rows), when the
    Basic Profile is applied, then each is removed, emptied, replaced or remapped as listed."""
    table = basic_profile_table()
    ds = full_table_dataset()
    before = {int(e.tag): e.value for e in ds}
    profile = AttributeProfile(ProfileOptions(secret=SECRET))
    profile.apply(ds, patient_context(ds, profile.options))
    obeyed = [tag for tag in before if _obeyed(table[tag], before[tag], ds, tag)]
    missed = sorted(f"{tag:08X}" for tag in set(before) - set(obeyed))
    print(f"Table E.1-1 ({len(table)} individual rows): {len(obeyed)}/{len(before)} obeyed")
    assert len(table) >= 650
    assert not missed


def test_the_table_is_the_vendored_edition_plus_the_current_rows_it_lacks() -> None:
    """Given the vendored 2026c transcription, when the rows it lacks are merged in, then the
    table holds 655 individual rows, among them (0010,0033) and (0040,0400)."""
    table = basic_profile_table()
    assert TABLE_EDITION == "2026c"
    assert len(ADDED_ROWS) == 3
    assert {0x00100033, 0x00100034, 0x00400400} == set(ADDED_ROWS) <= set(table)
    assert len(table) == 655
    assert table[0x00400400] == Action.X


def test_library_engine_coverage_is_measured_and_lower() -> None:
    """dicom-anonymizer's own engine (top level only, random UIDs) on the same dataset: the
    gap this package fills (nested sequences, keyed UIDs)."""
    from dicomanonymizer.simpledicomanonymizer import anonymize_dataset

    table = basic_profile_table()
    ds = full_table_dataset()
    before = {int(e.tag): e.value for e in ds}
    anonymize_dataset(ds)
    obeyed = [tag for tag in before if _obeyed(table[tag], before[tag], ds, tag)]
    print(f"dicom-anonymizer engine: {len(obeyed)}/{len(before)} obeyed")
    assert len(obeyed) < len(before)


def _dataset() -> Dataset:
    ds = Dataset()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN123"
    ds.PatientAge = "042Y"
    ds.PatientSex = "F"
    ds.StudyDate = "20240102"
    ds.StudyTime = "101010"
    ds.DeviceSerialNumber = "SN-42"
    ds.StudyDescription = "CT chest for Doe 2024-01-02"
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.add_new(0x00190010, "LO", "SAFE_VENDOR")
    ds.add_new(0x00191001, "DS", "1.5")
    ds.add_new(0x00191002, "LO", "Doe^Jane")
    return ds


def _apply(**options: object) -> Dataset:
    ds = _dataset()
    ds.file_meta = Dataset()  # type: ignore[assignment]
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    deidentify_dataset(ds, ProfileOptions(secret=SECRET, **options), pixels_cleaned=False)  # type: ignore[arg-type]
    return ds


def test_basic_profile_removes_dates_characteristics_and_device_identity() -> None:
    ds = _apply()
    assert not ds.PatientName
    assert ds.PatientID.startswith("DL") and "MRN" not in ds.PatientID
    assert not ds.StudyDate
    assert "PatientAge" not in ds
    assert ds.DeviceSerialNumber != "SN-42"
    assert "StudyDescription" not in ds
    assert 0x00191001 not in ds and 0x00190010 not in ds
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes[0] == "113100"


def test_options_keep_what_they_promise() -> None:
    ds = _apply(
        longitudinal="full",
        retain_patient_characteristics=True,
        retain_device_identity=True,
        clean_descriptors=True,
        retain_uids=True,
        safe_private_tags=frozenset({"0019,SAFE_VENDOR,01"}),
    )
    assert ds.StudyDate == "20240102"
    assert ds.PatientAge == "042Y"
    assert ds.PatientSex == "F"
    assert ds.DeviceSerialNumber == "SN-42"
    assert ds.StudyInstanceUID == "1.2.3.4"
    assert "Doe" not in ds.StudyDescription and "2024" not in ds.StudyDescription
    assert "chest" in ds.StudyDescription
    assert ds[0x00191001].value == "1.5"
    assert 0x00191002 not in ds  # not on the safe list
    codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
    assert {"113105", "113106", "113108", "113109", "113110", "113111"} <= codes


def test_shifted_dates_move_back_by_one_offset_per_patient() -> None:
    first, second = _apply(longitudinal="shifted"), _apply(longitudinal="shifted")
    assert first.StudyDate == second.StudyDate != "20240102"
    assert first.StudyDate < "20240102"
    assert first.StudyTime == "101010"
    assert first.LongitudinalTemporalInformationModified == "MODIFIED"


def test_uid_remapping_is_keyed_and_consistent() -> None:
    uid = "1.2.826.0.1.3680043.2.1125.1"
    assert remap_uid(uid, SECRET) == remap_uid(uid, SECRET)
    assert remap_uid(uid, SECRET) != remap_uid(uid, b"other")
    assert remap_uid(uid, SECRET).startswith("2.25.")
    assert len(remap_uid(uid, SECRET)) <= 64
    assert remap_uid("1.2.840.10008.5.1.4.1.1.2", SECRET) == "1.2.840.10008.5.1.4.1.1.2"
    assert tag_for_keyword("StudyInstanceUID") in basic_profile_table()


def test_the_patient_key_is_the_normalised_patient_id_alone() -> None:
    """Padding, case and the issuer do not split a patient; leading zeros do not merge two."""
    from dicomlens.deid.attributes import patient_key

    def key(**values: str) -> str:
        ds = Dataset()
        for keyword, value in values.items():
            setattr(ds, keyword, value)
        return patient_key(ds)

    assert key(PatientID="mrn123 ") == key(PatientID="MRN123", IssuerOfPatientID="HOSP")
    assert key(PatientID="MRN123", PatientName="A^B") == key(PatientID="MRN123")
    assert key(PatientID="00123") != key(PatientID="123")
    assert key(PatientName="Doe^Jane ", PatientBirthDate="19610302") == key(
        PatientName="DOE^JANE", PatientBirthDate="19610302"
    )


def test_the_final_check_refuses_unknown_and_un_attributes_whatever_the_profile_did() -> None:
    """Given a de-identified dataset into which an unknown public tag and, in a sequence item,
    an unknown UN element were put back (as if the profile had kept them), when the
    independent final check runs, then it names both; without them it finds nothing."""
    from pydicom.dataelem import DataElement
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    from dicomlens.deid.verify import problems

    options = ProfileOptions(secret=SECRET)
    ds = full_table_dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", "1.2.3.4"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    deidentify_dataset(ds, options, pixels_cleaned=False)
    assert problems(ds, options) == []
    ds.add(DataElement(0x00181FFE, "LO", PLANTED))  # public, not in the data dictionary
    item = Dataset()
    item.add(DataElement(0x00181FFD, "UN", PLANTED.encode()))  # unknown, read as UN
    ds.ReferencedStudySequence = [item]
    found = problems(ds, options)
    assert "unknown attribute at (0018,1FFE)" in found
    assert "unknown attribute at (0008,1110)[0].(0018,1FFD)" in found, found
