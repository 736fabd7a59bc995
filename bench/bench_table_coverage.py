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

import sys
import warnings
from pathlib import Path

from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataset import Dataset

from dicomlens.deid.attributes import AttributeProfile, patient_context
from dicomlens.deid.profile import TABLE_EDITION, Action, ProfileOptions, basic_profile_table
from dicomlens.deid.safe_list import outside_table_action
from dicomlens.deid.table_e11_additions import ADDED_ROWS

# The planted dataset is the one the profile's unit test uses (tests/corpus/planted.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from corpus.planted import PLANTED, full_table_dataset

_REMOVING = (Action.X, Action.XZ, Action.XD, Action.XZD, Action.XZU)


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
    ds = full_table_dataset()
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
