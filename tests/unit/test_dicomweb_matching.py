"""QIDO matching rules of PS3.4 C.2.2.2 (dicomweb.matching): each with a row that must
match and one that must not."""

from __future__ import annotations

import fnmatch
import re
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomlens.dicomweb.matching import matches
from dicomlens.dicomweb.model import AttributeFilter

pytestmark = pytest.mark.unit


def _row(**elements: tuple[str, list[Any]]) -> dict[str, Any]:
    return {tag: {"vr": vr, "Value": value} for tag, (vr, value) in elements.items()}


def _pn(alphabetic: str, ideographic: str = "", phonetic: str = "") -> dict[str, str]:
    groups = {"Alphabetic": alphabetic, "Ideographic": ideographic, "Phonetic": phonetic}
    return {k: v for k, v in groups.items() if v}


def _match(row: dict[str, Any], tag: str, vr: str, value: str, *, fuzzy: bool = False) -> bool:
    return matches(row, [AttributeFilter(tag=tag, vr=vr, value=value)], fuzzy=fuzzy)


ROW = {
    "00100010": {"vr": "PN", "Value": [_pn("Buc^Jérôme", "山田^太郎", "やまだ^たろう")]},
    "00100020": {"vr": "LO", "Value": ["PAT-1"]},
    "00080020": {"vr": "DA", "Value": ["20200315"]},
    "00080030": {"vr": "TM", "Value": ["101500.25"]},
    "0008002A": {"vr": "DT", "Value": ["20200315101500"]},
    "00080061": {"vr": "CS", "Value": ["CT", "SR"]},
    "00080060": {"vr": "CS", "Value": ["CT"]},
    "00200013": {"vr": "IS", "Value": [5]},
    "0020000D": {"vr": "UI", "Value": ["1.2.3.4"]},
    "00081030": {"vr": "LO", "Value": ["CHEST CT"]},
    "00081090": {"vr": "LO"},  # present with no value
    "00400275": {
        "vr": "SQ",
        "Value": [
            {
                "00400009": {"vr": "SH", "Value": ["SPS1"]},
                "00401001": {"vr": "SH", "Value": ["RP1"]},
            },
            {
                "00400009": {"vr": "SH", "Value": ["SPS2"]},
                "00401001": {"vr": "SH", "Value": ["RP2"]},
            },
        ],
    },
}


@pytest.mark.parametrize(
    ("tag", "vr", "value", "expected"),
    [
        # single value: exact and case-sensitive
        ("00100020", "LO", "PAT-1", True),
        ("00100020", "LO", "pat-1", False),
        ("00100020", "LO", "PAT-", False),
        ("00080060", "CS", "CT", True),
        ("00080060", "CS", "MR", False),
        # numbers compare as numbers
        ("00200013", "IS", "05", True),
        ("00200013", "IS", "6", False),
        # UID list
        ("0020000D", "UI", "9.9\\1.2.3.4", True),
        ("0020000D", "UI", "9.9\\1.2.3", False),
        # multiple values in the query: any
        ("00080060", "CS", "MR\\CT", True),
        ("00080060", "CS", "MR\\US", False),
        # multi-valued attribute: any of its values
        ("00080061", "CS", "SR", True),
        ("00080061", "CS", "MR", False),
        # wildcards
        ("00081030", "LO", "CHEST*", True),
        ("00081030", "LO", "*CT", True),
        ("00081030", "LO", "CHEST?CT", True),
        ("00081030", "LO", "chest*", False),
        ("00081030", "LO", "CHEST?", False),
        ("00080061", "CS", "S?", True),
        ("00080061", "CS", "M?", False),
        # range matching on dates
        ("00080020", "DA", "20200101-", True),
        ("00080020", "DA", "20200401-", False),
        ("00080020", "DA", "-20200315", True),
        ("00080020", "DA", "-20200314", False),
        ("00080020", "DA", "20200315-20200315", True),
        ("00080020", "DA", "20200101-20200314", False),
        ("00080020", "DA", "20200315", True),
        ("00080020", "DA", "20200316", False),
        # times: a bound of lower precision is its whole interval
        ("00080030", "TM", "10-10", True),
        ("00080030", "TM", "1016-", False),
        ("00080030", "TM", "-1015", True),
        ("00080030", "TM", "-101500.2", True),  # .2 is .200000-.299999
        ("00080030", "TM", "-101500.1", False),
        ("00080030", "TM", "10", True),
        ("00080030", "TM", "11", False),
        # date-times
        ("0008002A", "DT", "2020-", True),
        ("0008002A", "DT", "20200315102-", False),
        ("0008002A", "DT", "-202003151015", True),
        ("0008002A", "DT", "-2019", False),
    ],
)
def test_value_rules(tag: str, vr: str, value: str, expected: bool) -> None:
    assert _match(ROW, tag, vr, value) is expected


@pytest.mark.parametrize("value", ["", "*"])
def test_universal_matching_matches_rows_without_the_attribute(value: str) -> None:
    assert _match(ROW, "00081030", "LO", value)
    assert _match({}, "00081030", "LO", value)
    assert _match(ROW, "00081090", "LO", value)


def test_universal_on_dates_matches_every_row() -> None:
    assert _match({}, "00080020", "DA", "")


def test_absent_or_empty_attribute_matches_no_value() -> None:
    assert not _match({}, "00100020", "LO", "PAT-1")
    assert not _match(ROW, "00081090", "LO", "X*")
    assert not _match({}, "00080020", "DA", "20200101-")


def test_every_filter_must_match() -> None:
    both = [
        AttributeFilter(tag="00080060", vr="CS", value="CT"),
        AttributeFilter(tag="00100020", vr="LO", value="PAT-1"),
    ]
    assert matches(ROW, both, fuzzy=False)
    assert not matches(
        ROW, [*both, AttributeFilter(tag="00080020", vr="DA", value="2021-")], fuzzy=False
    )


def test_sequence_filters_must_match_one_and_the_same_item() -> None:
    def seq(sps: str, rp: str) -> list[AttributeFilter]:
        return [
            AttributeFilter(tag="00400275.00400009", vr="SH", value=sps),
            AttributeFilter(tag="00400275.00401001", vr="SH", value=rp),
        ]

    assert matches(ROW, seq("SPS2", "RP2"), fuzzy=False)
    assert not matches(ROW, seq("SPS1", "RP2"), fuzzy=False)
    assert matches(ROW, seq("SPS*", ""), fuzzy=False)
    assert matches({}, seq("", ""), fuzzy=False)  # universal: returned, not matched
    assert not matches({}, seq("SPS1", ""), fuzzy=False)


class TestPersonNames:
    def test_literal_matching_is_exact_and_case_sensitive(self) -> None:
        assert _match(ROW, "00100010", "PN", "Buc^Jérôme")
        assert not _match(ROW, "00100010", "PN", "buc^jérôme")
        assert not _match(ROW, "00100010", "PN", "Buc^Jerome")
        assert not _match(ROW, "00100010", "PN", "Buc")

    def test_trailing_empty_components_are_ignored(self) -> None:
        assert _match(ROW, "00100010", "PN", "Buc^Jérôme^^")
        row = _row(**{"00100010": ("PN", [_pn("Doe^John^^^")])})
        assert _match(row, "00100010", "PN", "Doe^John")

    def test_any_group_matches_a_value_without_groups(self) -> None:
        assert _match(ROW, "00100010", "PN", "山田^太郎")
        assert _match(ROW, "00100010", "PN", "やまだ*")
        assert not _match(ROW, "00100010", "PN", "山田")

    def test_a_value_with_groups_matches_group_by_group(self) -> None:
        assert _match(ROW, "00100010", "PN", "=山田^太郎")
        assert _match(ROW, "00100010", "PN", "Buc*=山田*")
        assert not _match(ROW, "00100010", "PN", "山田^太郎=")  # Alphabetic is not 山田
        assert not _match(ROW, "00100010", "PN", "Buc*=Yamada*")

    def test_wildcards_without_fuzzy_keep_case(self) -> None:
        assert _match(ROW, "00100010", "PN", "B*")
        assert not _match(ROW, "00100010", "PN", "b*")

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("buc^jerome", True),  # case and accents
            ("BUC", True),  # one word, prefix of a component
            ("jer", True),  # any component may start with it
            ("jerome^buc", True),  # word order does not matter
            ("b*", True),  # wildcards on the folded name
            ("uc", False),  # inside a word is not a prefix
            ("buc^jeremy", False),
            ("smith", False),
            ("山田", True),  # Ideographic words too
        ],
    )
    def test_fuzzy(self, value: str, expected: bool) -> None:
        assert _match(ROW, "00100010", "PN", value, fuzzy=True) is expected

    def test_fuzzy_folds_full_width_letters(self) -> None:
        row = _row(**{"00100010": ("PN", [_pn(_full_width("YAMADA^Tarou"))])})
        assert _match(row, "00100010", "PN", "yamada^tar", fuzzy=True)
        assert not _match(row, "00100010", "PN", "yamada^tar", fuzzy=False)


def _full_width(text: str) -> str:
    """ASCII letters as their full-width forms (U+FF21 ...), as Japanese systems write them."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in text)


_ALPHABET = "ab*?"


@given(
    pattern=st.text(alphabet=_ALPHABET, min_size=1, max_size=6),
    value=st.text(alphabet="ab", min_size=1, max_size=8),
)
def test_wildcards_agree_with_fnmatch(pattern: str, value: str) -> None:
    # fnmatchcase on patterns without [ ] is the same * / ? language
    row = _row(**{"00081030": ("LO", [value])})
    assert _match(row, "00081030", "LO", pattern) is fnmatch.fnmatchcase(value, pattern)


@given(
    value=st.text(alphabet=".+(a", min_size=1, max_size=5),
)
def test_characters_other_than_wildcards_are_literal(value: str) -> None:
    row = _row(**{"00081030": ("LO", [value])})
    assert _match(row, "00081030", "LO", value)
    assert not _match(row, "00081030", "LO", re.escape(value) + "x")


@given(
    dates=st.lists(st.dates(min_value=date(1000, 1, 1)), min_size=3, max_size=3),
)
def test_date_ranges_agree_with_date_comparison(dates: list[date]) -> None:
    data, low, high = dates
    row = _row(**{"00080020": ("DA", [data.strftime("%Y%m%d")])})
    text = f"{low:%Y%m%d}-{high:%Y%m%d}"
    assert _match(row, "00080020", "DA", text) is (low <= data <= high)
