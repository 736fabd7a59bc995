"""Rows of PS3.15 Table E.1-1 that the vendored transcription (``dicom-anonymizer``'s
``dicomfields_2026c``) does not carry, with their Basic Profile action and option columns.

Each row is written here from the standard's table (PS3.15 Annex E, Table E.1-1), not from
another tool. :func:`dicomlens.deid.profile.basic_profile_table` merges them over the
vendored rows; ``tests/unit/test_deid_profile.py`` counts the merged table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# The profile's action codes are plain strings here so that this module needs no import
# from profile.py (which imports this one).


@dataclass(frozen=True, kw_only=True)
class TableRow:
    """One attribute row: its Basic Profile action and the option columns that apply."""

    name: str
    basic: str
    clean_descriptors: bool = False


ADDED_ROWS: Mapping[int, TableRow] = {
    0x00100033: TableRow(name="Patient's Birth Date in Alternative Calendar", basic="X"),
    0x00100034: TableRow(name="Patient's Death Date in Alternative Calendar", basic="X"),
    0x00400400: TableRow(
        name="Comments on the Scheduled Procedure Step", basic="X", clean_descriptors=True
    ),
}
