"""The InstanceIndex contract: one suite over the in-memory fake, SQLite and DynamoDB on moto
(its table created from the template's ``InstanceIndexTable``, so the keys and indexes the
adapter needs are the ones the stack deploys).

Given instances built by hand as DICOM JSON, when they are put (again, elsewhere, at once),
then lookups, listings and QIDO candidate rows say what a viewer would see.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aws_support import (
    INDEX_TABLE,
    create_index_table,
    moto_in_process,
    serialised_moto_transactions,
)
from dicomlens.adapters.aws.dynamodb_index import DynamoInstanceIndex
from dicomlens.adapters.local.sqlite_index import SqliteInstanceIndex
from dicomlens.dicomweb.model import (
    AttributeFilter,
    IndexedInstance,
    PutOutcome,
    QidoQuery,
    QueryLevel,
)
from dicomlens.ports import InstanceIndex
from fakes import FakeInstanceIndex

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
SR = "1.2.840.10008.5.1.4.1.1.88.22"

_puts = iter(range(1_000_000))


def pn(alphabetic: str, ideographic: str | None = None) -> dict[str, Any]:
    name = {"Alphabetic": alphabetic}
    if ideographic is not None:
        name["Ideographic"] = ideographic
    return {"vr": "PN", "Value": [name]}


def instance(
    study: str,
    series: str,
    sop: str,
    *,
    number: int | None = 1,
    modality: str = "CT",
    sop_class: str = CT,
    patient_id: str = "PAT-1",
    patient_name: dict[str, Any] | None = None,
    study_date: str | None = "20240101",
    accession: str = "ACC-1",
    description: str = "Chest",
) -> IndexedInstance:
    """One instance; each one built later is stored later (stored_at grows)."""
    study_attrs: dict[str, Any] = {
        "0020000D": {"vr": "UI", "Value": [study]},
        "00100020": {"vr": "LO", "Value": [patient_id]},
        "00100010": patient_name or pn("Doe^Jane"),
        "00080050": {"vr": "SH", "Value": [accession]},
        "00081030": {"vr": "LO", "Value": [description]},
    }
    if study_date is not None:
        study_attrs["00080020"] = {"vr": "DA", "Value": [study_date]}
    instance_attrs: dict[str, Any] = {
        "00080018": {"vr": "UI", "Value": [sop]},
        "00080016": {"vr": "UI", "Value": [sop_class]},
        "00280010": {"vr": "US", "Value": [512]},
        "00281050": {"vr": "DS", "Value": [40.5]},
    }
    if number is not None:
        instance_attrs["00200013"] = {"vr": "IS", "Value": [number]}
    return IndexedInstance(
        study_uid=study,
        series_uid=series,
        sop_uid=sop,
        sop_class_uid=sop_class,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        instance_number=number,
        frame_count=1,
        size=1234,
        blob_key=f"uploads/{sop}/file.dcm",
        blob_version=None,
        metadata_key=f"dicomweb/{sop}/metadata.json",
        job_id=None,
        stored_at=T0 + timedelta(seconds=next(_puts)),
        study=study_attrs,
        series={
            "0020000E": {"vr": "UI", "Value": [series]},
            "00080060": {"vr": "CS", "Value": [modality]},
            "00200011": {"vr": "IS", "Value": [1]},
        },
        instance=instance_attrs,
    )


# ---------------------------------------------------------------- adapters


def _fake(tmp_path: Path) -> Iterator[InstanceIndex]:
    del tmp_path
    yield FakeInstanceIndex()


def _sqlite(tmp_path: Path) -> Iterator[InstanceIndex]:
    index = SqliteInstanceIndex(tmp_path / "index.sqlite3")
    yield index
    index.close()


def _moto(tmp_path: Path) -> Iterator[InstanceIndex]:
    del tmp_path
    with moto_in_process() as aws, serialised_moto_transactions():
        create_index_table(aws.dynamodb, INDEX_TABLE)
        yield DynamoInstanceIndex(aws.dynamodb, table_name=INDEX_TABLE)


INDEXES: dict[str, Callable[[Path], Iterator[InstanceIndex]]] = {
    "fake": _fake,
    "sqlite": _sqlite,
    "moto": _moto,
}


@pytest.fixture(params=sorted(INDEXES))
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InstanceIndex]:
    yield from INDEXES[request.param](tmp_path)


# ---------------------------------------------------------------- helpers


def rows(index: InstanceIndex, level: QueryLevel, **query: Any) -> list[dict[str, Any]]:
    return list(index.candidates(QidoQuery(level=level, **query)))


def by_tag(found: list[dict[str, Any]], tag: str) -> dict[str, dict[str, Any]]:
    keyed = {row[tag]["Value"][0]: row for row in found}
    assert len(keyed) == len(found), "one row per UID"
    return keyed


def value(row: dict[str, Any], tag: str) -> Any:
    return row[tag].get("Value")


def study_summary(index: InstanceIndex, study: str) -> tuple[Any, ...]:
    """(series, instances, modalities, SOP classes) of ``study``'s STUDY-level row."""
    (row,) = rows(index, QueryLevel.STUDY, study_uid=study)
    return (
        value(row, "00201206"),
        value(row, "00201208"),
        value(row, "00080061"),
        value(row, "00080062"),
    )


def filtered(level: QueryLevel, **filters: str) -> QidoQuery:
    tags = {
        "PatientID": ("00100020", "LO"),
        "StudyDate": ("00080020", "DA"),
        "AccessionNumber": ("00080050", "SH"),
        "StudyInstanceUID": ("0020000D", "UI"),
        "SeriesInstanceUID": ("0020000E", "UI"),
        "SOPInstanceUID": ("00080018", "UI"),
        "Modality": ("00080060", "CS"),
    }
    return QidoQuery(
        level=level,
        filters=tuple(
            AttributeFilter(tag=tags[name][0], vr=tags[name][1], value=wanted)
            for name, wanted in filters.items()
        ),
    )


# ---------------------------------------------------------------- put, find_sop, instances


def test_a_new_sop_uid_is_created_and_the_same_one_again_replaces(index: InstanceIndex) -> None:
    first = instance("1.1", "1.1.1", "1.1.1.1")
    assert index.put(first) is PutOutcome.CREATED
    assert index.find_sop("1.1.1.1") == first
    again = instance("1.1", "1.1.1", "1.1.1.1", description="Chest again")
    assert index.put(again) is PutOutcome.REPLACED
    assert index.find_sop("1.1.1.1") == again
    assert index.instances("1.1") == [again]
    assert index.find_sop("9.9.9") is None


def test_instances_are_ordered_by_series_then_number_missing_last_then_sop(
    index: InstanceIndex,
) -> None:
    put = [
        instance("1.1", "1.1.2", "1.1.2.1", number=1),
        instance("1.1", "1.1.1", "1.1.1.9", number=None),
        instance("1.1", "1.1.1", "1.1.1.3", number=10),
        instance("1.1", "1.1.1", "1.1.1.2", number=2),
        instance("1.1", "1.1.1", "1.1.1.1", number=None),
        instance("1.1", "1.1.1", "1.1.1.4", number=2),
        instance("2.2", "2.2.1", "2.2.1.1"),
    ]
    for item in put:
        index.put(item)
    order = [i.sop_uid for i in index.instances("1.1")]
    assert order == ["1.1.1.2", "1.1.1.4", "1.1.1.3", "1.1.1.1", "1.1.1.9", "1.1.2.1"]
    assert [i.sop_uid for i in index.instances("1.1", "1.1.2")] == ["1.1.2.1"]
    assert index.instances("1.1", "1.1.1", "1.1.1.3") == [put[2]]
    assert index.instances("1.1", sop_uid="2.2.1.1") == []
    assert index.instances("1.1", "2.2.1") == []
    assert index.instances("9.9") == []


# ---------------------------------------------------------------- candidate rows


def _two_studies(index: InstanceIndex) -> None:
    index.put(instance("1.1", "1.1.1", "1.1.1.1", number=1))
    index.put(instance("1.1", "1.1.1", "1.1.1.2", number=2))
    index.put(instance("1.1", "1.1.2", "1.1.2.1", modality="SR", sop_class=SR))
    index.put(instance("1.1", "1.1.3", "1.1.3.1", modality="MR", sop_class=MR))
    index.put(instance("2.2", "2.2.1", "2.2.1.1", patient_id="PAT-2", study_date="20250505"))


def test_study_rows_count_series_instances_modalities_and_sop_classes(
    index: InstanceIndex,
) -> None:
    _two_studies(index)
    found = by_tag(rows(index, QueryLevel.STUDY), "0020000D")
    assert set(found) == {"1.1", "2.2"}
    assert study_summary(index, "1.1") == (
        [3],
        [4],
        ["CT", "MR", "SR"],
        sorted([CT, MR, SR]),
    )
    assert study_summary(index, "2.2") == ([1], [1], ["CT"], [CT])
    first = found["1.1"]
    assert value(first, "00100020") == ["PAT-1"]
    assert first["00201208"]["vr"] == "IS"
    assert first["00080061"]["vr"] == "CS"
    assert "0020000E" not in first, "a study row holds no series attributes"
    assert rows(index, QueryLevel.STUDY, study_uid="9.9") == []


def test_series_rows_are_scoped_to_their_study_and_count_their_instances(
    index: InstanceIndex,
) -> None:
    _two_studies(index)
    series = by_tag(rows(index, QueryLevel.SERIES, study_uid="1.1"), "0020000E")
    assert set(series) == {"1.1.1", "1.1.2", "1.1.3"}
    assert value(series["1.1.1"], "00201209") == [2]
    assert value(series["1.1.2"], "00201209") == [1]
    assert value(series["1.1.2"], "00080060") == ["SR"]
    assert value(series["1.1.1"], "00100020") == ["PAT-1"], "with the study's attributes"
    everywhere = by_tag(rows(index, QueryLevel.SERIES), "0020000E")
    assert set(everywhere) == {"1.1.1", "1.1.2", "1.1.3", "2.2.1"}


def test_instance_rows_carry_study_series_and_instance_attributes_in_scope(
    index: InstanceIndex,
) -> None:
    _two_studies(index)
    found = by_tag(
        rows(index, QueryLevel.INSTANCE, study_uid="1.1", series_uid="1.1.1"), "00080018"
    )
    assert set(found) == {"1.1.1.1", "1.1.1.2"}
    row = found["1.1.1.2"]
    assert value(row, "00200013") == [2]
    assert value(row, "00281050") == [40.5]
    assert value(row, "0020000E") == ["1.1.1"]
    assert value(row, "0020000D") == ["1.1"]
    assert value(row, "00100020") == ["PAT-1"]
    in_study = by_tag(rows(index, QueryLevel.INSTANCE, study_uid="1.1"), "00080018")
    assert set(in_study) == {"1.1.1.1", "1.1.1.2", "1.1.2.1", "1.1.3.1"}
    assert len(rows(index, QueryLevel.INSTANCE)) == 5


def test_a_replace_in_place_does_not_count_twice_and_its_attributes_win(
    index: InstanceIndex,
) -> None:
    _two_studies(index)
    index.put(instance("1.1", "1.1.1", "1.1.1.2", number=2, description="Chest, corrected"))
    assert study_summary(index, "1.1") == ([3], [4], ["CT", "MR", "SR"], sorted([CT, MR, SR]))
    (row,) = rows(index, QueryLevel.STUDY, study_uid="1.1")
    assert value(row, "00081030") == ["Chest, corrected"]
    series = by_tag(rows(index, QueryLevel.SERIES, study_uid="1.1"), "0020000E")
    assert value(series["1.1.1"], "00201209") == [2]


def test_a_replace_that_changes_the_sop_class_drops_the_old_class(index: InstanceIndex) -> None:
    _two_studies(index)
    index.put(instance("1.1", "1.1.3", "1.1.3.1", modality="MR", sop_class=CT))
    assert study_summary(index, "1.1") == ([3], [4], ["CT", "MR", "SR"], sorted([CT, SR]))


def test_a_replace_that_moves_an_instance_leaves_both_studies_right(
    index: InstanceIndex,
) -> None:
    _two_studies(index)
    # the SR series' only instance moves to study 2.2: its series and its class leave 1.1
    moved = instance("2.2", "2.2.9", "1.1.2.1", modality="SR", sop_class=SR, patient_id="PAT-2")
    assert index.put(moved) is PutOutcome.REPLACED
    assert study_summary(index, "1.1") == ([2], [3], ["CT", "MR"], sorted([CT, MR]))
    assert study_summary(index, "2.2") == ([2], [2], ["CT", "SR"], sorted([CT, SR]))
    assert set(by_tag(rows(index, QueryLevel.SERIES, study_uid="1.1"), "0020000E")) == {
        "1.1.1",
        "1.1.3",
    }
    assert index.instances("1.1", "1.1.2") == []
    assert index.find_sop("1.1.2.1") == moved
    assert [i.sop_uid for i in index.instances("2.2", "2.2.9")] == ["1.1.2.1"]


def test_a_study_whose_only_instance_moves_away_disappears(index: InstanceIndex) -> None:
    _two_studies(index)
    index.put(instance("1.1", "1.1.7", "2.2.1.1"))
    assert rows(index, QueryLevel.STUDY, study_uid="2.2") == []
    assert rows(index, QueryLevel.SERIES, study_uid="2.2") == []
    assert study_summary(index, "1.1") == ([4], [5], ["CT", "MR", "SR"], sorted([CT, MR, SR]))
    assert set(by_tag(rows(index, QueryLevel.STUDY), "0020000D")) == {"1.1"}


def test_a_moved_instance_s_old_study_takes_its_remaining_newest_attributes(
    index: InstanceIndex,
) -> None:
    index.put(instance("1.1", "1.1.1", "1.1.1.1", description="Old"))
    index.put(instance("1.1", "1.1.1", "1.1.1.2", description="Newer"))
    index.put(instance("3.3", "3.3.1", "1.1.1.2", description="Moved"))
    (row,) = rows(index, QueryLevel.STUDY, study_uid="1.1")
    assert value(row, "00081030") == ["Old"]
    assert value(row, "00201208") == [1]


# ---------------------------------------------------------------- narrowing keeps every match


def _many_studies(index: InstanceIndex) -> None:
    dates = ["20230101", "20230615", "20240101", "20241231", "20250101", None]
    for n in range(12):
        study = f"5.{n}"
        for s in range(2):
            index.put(
                instance(
                    study,
                    f"{study}.{s}",
                    f"{study}.{s}.1",
                    modality=["CT", "MR"][s],
                    patient_id=f"PAT-{n % 3}",
                    accession=f"ACC-{n}",
                    study_date=dates[n % len(dates)],
                )
            )


def _matching(index: InstanceIndex, query: QidoQuery, tag: str) -> set[str]:
    return {row[tag]["Value"][0] for row in index.candidates(query)}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"PatientID": "PAT-1"}, {"5.1", "5.4", "5.7", "5.10"}),
        ({"AccessionNumber": "ACC-7"}, {"5.7"}),
        ({"StudyInstanceUID": "5.2\\5.3\\9.9"}, {"5.2", "5.3"}),
        ({"StudyDate": "20240101"}, {"5.2", "5.8"}),
        ({"StudyDate": "20230601-20240101"}, {"5.1", "5.2", "5.7", "5.8"}),
        ({"StudyDate": "-20230101"}, {"5.0", "5.6"}),
        ({"StudyDate": "20241231-"}, {"5.3", "5.4", "5.9", "5.10"}),
        ({"PatientID": "PAT-2", "StudyDate": "20240101-"}, {"5.2", "5.8"}),
        ({"PatientID": "PAT-*"}, {f"5.{n}" for n in range(12)}),
    ],
)
def test_study_candidates_narrowed_by_keys_include_every_match(
    index: InstanceIndex, filters: dict[str, str], expected: set[str]
) -> None:
    _many_studies(index)
    found = _matching(index, filtered(QueryLevel.STUDY, **filters), "0020000D")
    assert expected <= found
    assert found <= {f"5.{n}" for n in range(12)}


def test_series_and_instance_candidates_narrowed_by_uid_lists_include_every_match(
    index: InstanceIndex,
) -> None:
    _many_studies(index)
    series = filtered(QueryLevel.SERIES, SeriesInstanceUID="5.1.0\\5.9.1")
    assert {"5.1.0", "5.9.1"} <= _matching(index, series, "0020000E")
    modality = filtered(QueryLevel.SERIES, Modality="MR", PatientID="PAT-0")
    assert {"5.0.1", "5.3.1", "5.6.1", "5.9.1"} <= _matching(index, modality, "0020000E")
    sops = filtered(QueryLevel.INSTANCE, SOPInstanceUID="5.4.1.1\\5.11.0.1")
    assert {"5.4.1.1", "5.11.0.1"} <= _matching(index, sops, "00080018")
    dated = filtered(QueryLevel.INSTANCE, StudyDate="20250101")
    assert {"5.4.0.1", "5.4.1.1", "5.10.0.1", "5.10.1.1"} <= _matching(index, dated, "00080018")
    scoped = QidoQuery(
        level=QueryLevel.SERIES,
        study_uid="5.1",
        filters=filtered(QueryLevel.SERIES, Modality="MR", StudyInstanceUID="5.1\\5.2").filters,
    )
    in_path = list(index.candidates(scoped))
    assert {"5.1.1"} <= {value(row, "0020000E")[0] for row in in_path}
    assert {value(row, "0020000D")[0] for row in in_path} == {"5.1"}, "the path scope holds"


# ---------------------------------------------------------------- concurrency, Unicode


def test_concurrent_puts_into_one_study_lose_no_count(index: InstanceIndex) -> None:
    def put_series(worker: int) -> None:
        for n in range(8):
            index.put(instance("7.7", f"7.7.{worker}", f"7.7.{worker}.{n}", number=n))

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(put_series, range(3)))
    assert study_summary(index, "7.7")[:2] == ([3], [24])
    series = by_tag(rows(index, QueryLevel.SERIES, study_uid="7.7"), "0020000E")
    assert {uid: value(row, "00201209") for uid, row in series.items()} == {
        "7.7.0": [8],
        "7.7.1": [8],
        "7.7.2": [8],
    }


def _put_from_another_process(path: Path, worker: int) -> None:
    index = SqliteInstanceIndex(path)
    for n in range(10):
        index.put(instance("8.8", f"8.8.{n % 2}", f"8.8.{worker}.{n}", number=n))
    # every worker also replaces one shared instance: it must count once
    index.put(instance("8.8", "8.8.0", "8.8.shared", number=99))
    index.close()


def test_sqlite_writers_in_three_processes_give_exact_counts(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    SqliteInstanceIndex(path).close()
    with ProcessPoolExecutor(max_workers=3) as pool:
        list(pool.map(_put_from_another_process, [path] * 3, range(3)))
    index = SqliteInstanceIndex(path)
    assert study_summary(index, "8.8")[:2] == ([2], [31])
    series = by_tag(rows(index, QueryLevel.SERIES, study_uid="8.8"), "0020000E")
    assert value(series["8.8.0"], "00201209") == [16]
    assert value(series["8.8.1"], "00201209") == [15]
    assert len(index.instances("8.8")) == 31


def test_unicode_names_and_descriptions_round_trip(index: InstanceIndex) -> None:
    japanese = pn("Yamada^Tarou", "山田^太郎")
    first = instance("4.4", "4.4.1", "4.4.1.1", patient_name=japanese, description="胸部 CT")
    second = instance(
        "4.5", "4.5.1", "4.5.1.1", patient_name=pn("Müller^Jürgen"), description="Schädel ß"
    )
    index.put(first)
    index.put(second)
    assert index.find_sop("4.4.1.1") == first
    assert index.find_sop("4.5.1.1") == second
    found = by_tag(rows(index, QueryLevel.STUDY), "0020000D")
    assert found["4.4"]["00100010"] == japanese
    assert value(found["4.4"], "00081030") == ["胸部 CT"]
    assert value(found["4.5"], "00100010") == [{"Alphabetic": "Müller^Jürgen"}]
    assert value(found["4.5"], "00081030") == ["Schädel ß"]


def test_threads_share_one_sqlite_index(tmp_path: Path) -> None:
    # one adapter object used from several threads (one connection per thread)
    index = SqliteInstanceIndex(tmp_path / "index.sqlite3")
    barrier = threading.Barrier(4)

    def put(worker: int) -> None:
        barrier.wait()
        index.put(instance("6.6", "6.6.1", f"6.6.1.{worker}"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(put, range(4)))
    assert study_summary(index, "6.6")[:2] == ([1], [4])
