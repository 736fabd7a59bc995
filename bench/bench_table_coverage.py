"""PS3.15 Table E.1-1 coverage: how many of the table's individual rows the profile obeys.

A dataset holding every individually listed attribute of the table (with a planted value,
sequences with a planted item) is de-identified with the Basic Profile; each row counts as
obeyed when the attribute was removed, emptied, replaced or remapped as its action says,
nested items included. The same dataset through ``dicom-anonymizer``'s own engine gives the
comparison. Then the attributes of the data dictionary *outside* the table: how many the
safe list keeps and how many are removed.

    python bench/bench_table_coverage.py
"""

from __future__ import annotations

import warnings

from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomlens.deid.attributes import AttributeProfile, patient_context
from dicomlens.deid.profile import TABLE_EDITION, Action, ProfileOptions, basic_profile_table
from dicomlens.deid.safe_list import outside_table_action
from dicomlens.deid.table_e11_additions import ADDED_ROWS

PLANTED = "PLANTED"
_VALUES = {"DA": "20240102", "DT": "20240102030405", "TM": "030405", "AS": "042Y"}
_VALUES |= {"DS": "7.5", "IS": "7", "UI": "1.2.3.999.1", "UR": "http://planted.example"}
_REMOVING = (Action.X, Action.XZ, Action.XD, Action.XZD, Action.XZU)


def _planted(tag: int) -> tuple[str, object]:
    try:
        vr = dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return "UN", b"PLANTED "
    if vr == "SQ":
        item = Dataset()
        item.ReferencedSOPInstanceUID = "1.2.3.999.2"
        item.TextValue = PLANTED
        return vr, Sequence([item])
    if vr in ("US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT"):
        return vr, 7
    if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        return vr, b"PLANTED "
    return vr, _VALUES.get(vr, PLANTED)


def _full_table_dataset() -> Dataset:
    ds = Dataset()
    for tag in basic_profile_table():
        if tag >> 16 != 0x0002:
            ds.add_new(tag, *_planted(tag))
    return ds


def _obeyed(action: Action, before: object, after: Dataset, tag: int) -> bool:
    if tag not in after:
        return action in _REMOVING
    value = after[tag].value
    if action == Action.X:
        return False
    if after[tag].VR == "SQ":
        return all(item.get("TextValue") != PLANTED for item in value)
    if action in (Action.Z, Action.XZ):
        return value in (None, "", b"")
    return bool(value != before)


def _count(anonymize: object) -> tuple[int, int]:
    table = basic_profile_table()
    ds = _full_table_dataset()
    before = {int(e.tag): e.value for e in ds}
    anonymize(ds)  # type: ignore[operator]
    obeyed = sum(1 for tag in before if _obeyed(table[tag], before[tag], ds, tag))
    return obeyed, len(before)


def _ours(ds: Dataset) -> None:
    profile = AttributeProfile(ProfileOptions(secret=b"bench"))
    profile.apply(ds, patient_context(ds, profile.options))


def main() -> None:
    warnings.simplefilter("ignore")
    table = basic_profile_table()
    vendored = len(table) - len(ADDED_ROWS)
    print(
        f"Table E.1-1: {len(table)} individual rows ({vendored} from dicom-anonymizer's "
        f"{TABLE_EDITION} transcription + {len(ADDED_ROWS)} current rows it lacks), "
        "plus the repeating groups 50xx/60xx and private attributes"
    )
    obeyed, total = _count(_ours)
    print(
        f"dicomlens profile: {obeyed}/{total} rows obeyed (nested items included; the file "
        "meta row (0002,0003) is not planted: the meta group is rebuilt)"
    )
    try:
        from dicomanonymizer.simpledicomanonymizer import anonymize_dataset  # noqa: PLC0415
    except ImportError:
        print("dicom-anonymizer engine not installed: comparison not measured")
    else:
        theirs, _ = _count(anonymize_dataset)
        print(f"dicom-anonymizer's own engine: {theirs}/{total} rows obeyed")
    outside = [tag for tag in DicomDictionary if tag not in table and tag >> 16 != 0x0002]
    kept = [t for t in outside if outside_table_action(t, dictionary_VR(t)) is None]
    print(
        f"data dictionary outside the table: {len(outside)} attributes, {len(kept)} kept as "
        f"safe (numbers, sequences, the named safe list), {len(outside) - len(kept)} removed "
        "or replaced (dates and UIDs follow their own rules)"
    )


if __name__ == "__main__":
    main()
