"""A dataset holding every attribute of PS3.15 Table E.1-1 with a planted value.

Shared by the profile's unit test and the table-coverage benchmark, so both plant the same.
"""

from __future__ import annotations

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomlens.deid.profile import basic_profile_table

PLANTED = "PLANTED"
_VALUES = {
    "DA": "20240102",
    "DT": "20240102030405",
    "TM": "030405",
    "AS": "042Y",
    "DS": "7.5",
    "IS": "7",
    "UI": "1.2.3.999.1",
    "UR": "http://planted.example",
}


def planted_element(tag: int) -> tuple[str, object]:
    """A VR and a planted value valid for ``tag`` (a sequence item carries PLANTED text)."""
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


def full_table_dataset() -> Dataset:
    """Every row of the table but the file meta group (rebuilt on writing), planted."""
    ds = Dataset()
    for tag in basic_profile_table():
        if tag >> 16 != 0x0002:
            ds.add_new(tag, *planted_element(tag))
    return ds
