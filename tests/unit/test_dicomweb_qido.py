"""QIDO-RS requests parsed (dicomweb.qido.parse_qido) and responses built (respond)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomlens.dicomweb.attributes import index_record
from dicomlens.dicomweb.model import AttributeFilter, QidoQuery, QueryLevel
from dicomlens.dicomweb.qido import parse_qido, respond
from dicomlens.domain.errors import DicomlensError, ErrorCode

pytestmark = pytest.mark.unit

ROOT = "http://127.0.0.1:8000/dicomweb"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
SERIES_UID = "1.2.826.0.1.3680043.8.498.2"


# --- parsing ---------------------------------------------------------------------------


def test_keywords_and_tags_name_the_same_attribute() -> None:
    by_keyword = parse_qido(QueryLevel.STUDY, [("PatientName", "Doe*")])
    by_tag = parse_qido(QueryLevel.STUDY, [("00100010", "Doe*")])
    assert (
        by_keyword.filters
        == by_tag.filters
        == (AttributeFilter(tag="00100010", vr="PN", value="Doe*"),)
    )


def test_options_are_read() -> None:
    query = parse_qido(
        QueryLevel.STUDY,
        [
            ("fuzzymatching", "true"),
            ("limit", "10"),
            ("offset", "20"),
            ("includefield", "StudyDescription,00081032"),
            ("includefield", "PatientAge"),
        ],
    )
    assert query.fuzzy
    assert (query.limit, query.offset) == (10, 20)
    assert query.include_tags == ("00081030", "00081032", "00101010")
    assert not query.include_all
    assert parse_qido(QueryLevel.STUDY, [("includefield", "all")]).include_all


def test_defaults() -> None:
    query = parse_qido(QueryLevel.STUDY, [])
    assert query == QidoQuery(level=QueryLevel.STUDY)


def test_repeated_uid_key_is_a_uid_list() -> None:
    query = parse_qido(
        QueryLevel.STUDY, [("StudyInstanceUID", "1.2.3"), ("0020000D", "1.2.4\\1.2.5")]
    )
    assert query.filters[0].value == "1.2.3\\1.2.4\\1.2.5"


def test_higher_level_attributes_are_matching_keys_below() -> None:
    query = parse_qido(
        QueryLevel.INSTANCE,
        [("PatientID", "P1"), ("Modality", "CT"), ("InstanceNumber", "3")],
        study_uid=STUDY_UID,
    )
    assert [f.tag for f in query.filters] == ["00100020", "00080060", "00200013"]


def test_sequence_item_keys() -> None:
    query = parse_qido(
        QueryLevel.SERIES, [("RequestAttributesSequence.ScheduledProcedureStepID", "SPS1")]
    )
    assert query.filters == (AttributeFilter(tag="00400275.00400009", vr="SH", value="SPS1"),)


def test_date_ranges_and_universal_values_are_accepted() -> None:
    params = [("StudyDate", "20200101-20201231"), ("StudyTime", "-1200"), ("AccessionNumber", "")]
    assert len(parse_qido(QueryLevel.STUDY, params).filters) == 3


@pytest.mark.parametrize(
    ("level", "params", "says"),
    [
        (QueryLevel.STUDY, [("PatientNam", "x")], "unknown"),
        (QueryLevel.STUDY, [("Modality", "CT")], "not a matching key"),  # a series attribute
        (QueryLevel.SERIES, [("SOPInstanceUID", "1.2")], "not a matching key"),
        (QueryLevel.STUDY, [("WindowCenter", "40")], "not a matching key"),  # not indexed
        (QueryLevel.STUDY, [("00091001", "x")], "not a matching key"),  # private
        (QueryLevel.STUDY, [("PatientID", "a"), ("PatientID", "b")], "more than once"),
        (QueryLevel.STUDY, [("limit", "-1")], "limit"),
        (QueryLevel.STUDY, [("limit", "ten")], "limit"),
        (QueryLevel.STUDY, [("offset", "1.5")], "offset"),
        (QueryLevel.STUDY, [("limit", "1"), ("limit", "2")], "more than once"),
        (QueryLevel.STUDY, [("fuzzymatching", "yes")], "fuzzymatching"),
        (QueryLevel.STUDY, [("includefield", "NoSuchThing")], "unknown"),
        (QueryLevel.STUDY, [("StudyDate", "2020*")], "wildcards"),
        (QueryLevel.STUDY, [("StudyDate", "2020-01-01")], "not a valid DA"),
        (QueryLevel.STUDY, [("StudyDate", "20201231-20200101")], "not a valid DA"),
        (QueryLevel.STUDY, [("StudyTime", "25:00")], "not a valid TM"),
        (QueryLevel.STUDY, [("StudyInstanceUID", "1.2.abc")], "not a valid UI"),
        (QueryLevel.STUDY, [("StudyInstanceUID", "1.2.*")], "wildcards"),
        (QueryLevel.INSTANCE, [("InstanceNumber", "three")], "not a valid IS"),
        (QueryLevel.SERIES, [("RequestAttributesSequence", "x")], "sequence"),
        (QueryLevel.SERIES, [("RequestAttributesSequence.PatientName", "x")], "not a matching"),
        (QueryLevel.STUDY, [("PatientName", "x" * 9000)], "too long"),
    ],
)
def test_bad_requests_are_validation_errors(
    level: QueryLevel, params: list[tuple[str, str]], says: str
) -> None:
    with pytest.raises(DicomlensError) as raised:
        parse_qido(level, params)
    assert raised.value.code == ErrorCode.VALIDATION_ERROR
    assert says in raised.value.message
    assert "x" * 100 not in raised.value.message  # values are never echoed


def test_path_uids_are_checked() -> None:
    with pytest.raises(DicomlensError):
        parse_qido(QueryLevel.SERIES, [], study_uid="not a uid")
    with pytest.raises(DicomlensError):
        parse_qido(QueryLevel.STUDY, [], study_uid=STUDY_UID)
    with pytest.raises(DicomlensError):
        parse_qido(QueryLevel.SERIES, [], study_uid=STUDY_UID, series_uid=SERIES_UID)


# --- responses -------------------------------------------------------------------------


def _study(uid: str, date: str | None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "0020000D": {"vr": "UI", "Value": [uid]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": f"Patient^{uid[-1]}"}]},
        "00100020": {"vr": "LO", "Value": [f"P{uid[-1]}"]},
        "00080061": {"vr": "CS", "Value": ["CT", "SR"]},
        "00201206": {"vr": "IS", "Value": [1]},
        "00201208": {"vr": "IS", "Value": [2]},
        "00081030": {"vr": "LO", "Value": ["CHEST"]},
    }
    if date is not None:
        row["00080020"] = {"vr": "DA", "Value": [date]}
    row.update(extra)
    return row


def _query(level: QueryLevel, params: list[tuple[str, str]], **path: str) -> QidoQuery:
    return parse_qido(level, params, **path)


def test_studies_newest_first_then_by_uid_undated_last() -> None:
    rows = [
        _study("1.2.3", "20200101"),
        _study("1.2.9", None),
        _study("1.2.5", "20210101"),
        _study("1.2.4", "20200101"),
    ]
    found, truncated = respond(
        rows, _query(QueryLevel.STUDY, []), max_results=100, retrieve_root=ROOT
    )
    assert [r["0020000D"]["Value"][0] for r in found] == ["1.2.5", "1.2.3", "1.2.4", "1.2.9"]
    assert not truncated


def test_study_response_has_required_attributes_even_empty_and_a_retrieve_url() -> None:
    found, _ = respond(
        [_study("1.2.3", None)],
        _query(QueryLevel.STUDY, [("PatientID", "P3")]),
        max_results=10,
        retrieve_root=ROOT + "/",
    )
    (study,) = found
    assert list(study) == sorted(study)
    # Type R without a value: returned with no Value
    assert study["00080020"] == {"vr": "DA"}
    assert study["00080050"] == {"vr": "SH"}
    assert study["00200010"] == {"vr": "SH"}
    assert study["00201206"]["Value"] == [1]
    assert study["00081190"] == {"vr": "UR", "Value": [f"{ROOT}/studies/1.2.3"]}
    # not a return attribute, not asked for: not returned
    assert "00081030" not in study
    # Type C, unknown: left out
    assert "00080201" not in study


def test_includefield_and_matching_keys_are_returned() -> None:
    rows = [_study("1.2.3", "20200101")]
    query = _query(QueryLevel.STUDY, [("includefield", "StudyDescription"), ("PatientAge", "")])
    (study,), _ = respond(rows, query, max_results=10, retrieve_root=ROOT)
    assert study["00081030"]["Value"] == ["CHEST"]
    assert study["00101010"] == {"vr": "AS"}  # a matching key the row lacks: no Value
    query_all = _query(QueryLevel.STUDY, [("includefield", "all")])
    (everything,), _ = respond(
        [_study("1.2.3", None, **{"00091001": {"vr": "LO", "Value": ["x"]}})],
        query_all,
        max_results=10,
        retrieve_root=ROOT,
    )
    assert "00091001" in everything
    assert "00081030" in everything


def test_filters_apply_even_to_rows_the_index_should_not_have_sent() -> None:
    rows = [_study("1.2.3", "20200101"), _study("1.2.4", "20220101")]
    query = _query(QueryLevel.STUDY, [("StudyDate", "20210101-")])
    found, _ = respond(rows, query, max_results=10, retrieve_root=ROOT)
    assert [r["0020000D"]["Value"][0] for r in found] == ["1.2.4"]


def _series_row(study: str, series: str, number: int | None) -> dict[str, Any]:
    row = _study(study, "20200101")
    row["0020000E"] = {"vr": "UI", "Value": [series]}
    row["00080060"] = {"vr": "CS", "Value": ["CT"]}
    row["00201209"] = {"vr": "IS", "Value": [3]}
    if number is not None:
        row["00200011"] = {"vr": "IS", "Value": [number]}
    return row


def test_series_of_a_study_omit_the_study_attributes_all_series_include_them() -> None:
    rows = [
        _series_row("1.2.3", "1.2.3.3", None),
        _series_row("1.2.3", "1.2.3.1", 2),
        _series_row("1.2.3", "1.2.3.2", 1),
        _series_row("1.2.4", "1.2.4.1", 1),  # another study: out of the path's scope
    ]
    in_study, _ = respond(
        rows,
        _query(QueryLevel.SERIES, [], study_uid="1.2.3"),
        max_results=10,
        retrieve_root=ROOT,
    )
    assert [r["0020000E"]["Value"][0] for r in in_study] == ["1.2.3.2", "1.2.3.1", "1.2.3.3"]
    assert "00100010" not in in_study[0]
    assert in_study[0]["00081190"]["Value"] == [f"{ROOT}/studies/1.2.3/series/1.2.3.2"]
    assert in_study[2]["00200011"] == {"vr": "IS"}  # required, unknown
    everywhere, _ = respond(rows, _query(QueryLevel.SERIES, []), max_results=10, retrieve_root=ROOT)
    assert len(everywhere) == 4
    assert everywhere[0]["00100010"]["Value"] == [{"Alphabetic": "Patient^3"}]


def test_instances_of_a_series_keep_only_instance_attributes() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    record = index_record(
        ds,
        blob_key="b",
        blob_version=None,
        metadata_key="m",
        job_id=None,
        size=1,
        stored_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    row = {**record.study, **record.series, **record.instance}
    query = _query(
        QueryLevel.INSTANCE,
        [("PatientName", "CompressedSamples^CT1")],
        study_uid=record.study_uid,
        series_uid=record.series_uid,
    )
    (instance,), _ = respond([row], query, max_results=10, retrieve_root=ROOT)
    assert instance["00280010"]["Value"] == [128]
    assert instance["00100010"]["Value"] == [{"Alphabetic": "CompressedSamples^CT1"}]
    assert "00080060" not in instance  # a series attribute: the path names the series
    assert instance["00081190"]["Value"] == [
        f"{ROOT}/studies/{record.study_uid}/series/{record.series_uid}/instances/{record.sop_uid}"
    ]


@pytest.mark.parametrize(
    ("limit", "offset", "max_results", "count", "truncated"),
    [
        (None, 0, 100, 10, False),
        (None, 0, 4, 4, True),  # the server's maximum cut the results
        (3, 0, 100, 3, False),  # the client's own limit: no warning
        (50, 0, 4, 4, True),  # the client asked for more than the maximum
        (None, 8, 100, 2, False),
        (None, 7, 2, 2, True),
        (None, 20, 100, 0, False),
        (0, 0, 100, 0, False),
    ],
)
def test_paging(
    limit: int | None, offset: int, max_results: int, count: int, truncated: bool
) -> None:
    rows = [_study(f"1.2.{i}", f"2020010{i}") for i in range(10)]
    query = QidoQuery(level=QueryLevel.STUDY, limit=limit, offset=offset)
    found, cut = respond(rows, query, max_results=max_results, retrieve_root=ROOT)
    assert (len(found), cut) == (count, truncated)
    newest = [f"1.2.{i}" for i in reversed(range(10))]
    assert [r["0020000D"]["Value"][0] for r in found] == newest[offset : offset + count]
