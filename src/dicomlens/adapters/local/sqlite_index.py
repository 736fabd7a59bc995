"""The DICOMweb instance index in SQLite: the local :class:`~dicomlens.ports.InstanceIndex`.

Three tables: ``instances`` (one row per SOP Instance UID, the whole record as JSON),
``series`` and ``studies`` (one row each, with the computed counts, modalities and SOP
classes and the attributes of their newest instance, kept in step by every ``put``), so a
study search reads one row per study and never aggregates at query time. The newest
instance is the one indexed last (``seq`` grows with every put).

Every ``put`` is one ``BEGIN IMMEDIATE`` transaction (see
:mod:`dicomlens.adapters.local.sqlite_jobs`: WAL, long busy timeout, one connection per
thread): it replaces the instance row and then recomputes the touched series and studies from
the ``instances_by_series`` index (a series' instance count, SOP classes and modalities are a
GROUP BY over that index: proportional to the series' size, not the table's), so concurrent
writers in several processes cannot lose a count, and a replace that moves an instance to
another study leaves both studies right (an emptied series or study is deleted).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from dicomlens.adapters.instance_rows import (
    ACCESSION_NUMBER,
    MODALITY,
    PATIENT_ID,
    STUDY_DATE,
    NarrowingKeys,
    first_value,
    instance_from_json,
    instance_order,
    instance_row,
    instance_to_json,
    narrowing_keys,
    series_row,
    study_row,
)
from dicomlens.adapters.local.sqlite_file import SqliteFile
from dicomlens.dicomweb.model import IndexedInstance, PutOutcome, QidoQuery, QueryLevel

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    sop_uid       TEXT NOT NULL UNIQUE,
    study_uid     TEXT NOT NULL,
    series_uid    TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    modality      TEXT NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_by_series
    ON instances (study_uid, series_uid, sop_class_uid, modality);
CREATE TABLE IF NOT EXISTS series (
    study_uid      TEXT NOT NULL,
    series_uid     TEXT NOT NULL,
    modality       TEXT NOT NULL,
    instance_count INTEGER NOT NULL,
    modalities     TEXT NOT NULL,
    sop_classes    TEXT NOT NULL,
    newest_seq     INTEGER NOT NULL,
    study_attrs    TEXT NOT NULL,
    series_attrs   TEXT NOT NULL,
    PRIMARY KEY (study_uid, series_uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS series_by_uid ON series (series_uid);
CREATE INDEX IF NOT EXISTS series_by_modality ON series (modality);
CREATE TABLE IF NOT EXISTS studies (
    study_uid      TEXT PRIMARY KEY,
    patient_id     TEXT NOT NULL,
    accession      TEXT NOT NULL,
    study_date     TEXT NOT NULL,
    series_count   INTEGER NOT NULL,
    instance_count INTEGER NOT NULL,
    modalities     TEXT NOT NULL,
    sop_classes    TEXT NOT NULL,
    attrs          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS studies_by_patient ON studies (patient_id);
CREATE INDEX IF NOT EXISTS studies_by_accession ON studies (accession);
CREATE INDEX IF NOT EXISTS studies_by_date ON studies (study_date);
"""

# Candidate rows per level; a WHERE clause from _where (placeholders only) is appended.
_SELECT_STUDIES = (
    "SELECT st.attrs, st.series_count, st.instance_count, st.modalities, st.sop_classes"
    " FROM studies st"
)
_SELECT_SERIES = (
    "SELECT st.attrs, se.series_attrs, se.instance_count FROM series se"
    " JOIN studies st ON st.study_uid = se.study_uid"
)
_SELECT_INSTANCES = (
    "SELECT st.attrs, se.series_attrs, i.body FROM instances i"
    " JOIN series se ON se.study_uid = i.study_uid AND se.series_uid = i.series_uid"
    " JOIN studies st ON st.study_uid = i.study_uid"
)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class SqliteInstanceIndex(SqliteFile):
    """The instance index in one SQLite file; safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA.split(";"))

    def put(self, instance: IndexedInstance) -> PutOutcome:
        """Index ``instance`` (CREATED, or REPLACED for a known SOP Instance UID) and
        recompute its series and study, and the earlier record's when it was elsewhere."""
        with self._write() as conn:
            old = conn.execute(
                "SELECT study_uid, series_uid FROM instances WHERE sop_uid = ?",
                (instance.sop_uid,),
            ).fetchone()
            if old is not None:
                conn.execute("DELETE FROM instances WHERE sop_uid = ?", (instance.sop_uid,))
            conn.execute(
                "INSERT INTO instances (sop_uid, study_uid, series_uid, sop_class_uid, modality,"
                " body) VALUES (?,?,?,?,?,?)",
                (
                    instance.sop_uid,
                    instance.study_uid,
                    instance.series_uid,
                    instance.sop_class_uid,
                    first_value(instance.series, MODALITY) or "",
                    instance_to_json(instance),
                ),
            )
            touched = {(instance.study_uid, instance.series_uid)}
            if old is not None:
                touched.add((old[0], old[1]))
            for study_uid, series_uid in sorted(touched):
                _refresh_series(conn, study_uid, series_uid)
            for study_uid in sorted({study for study, _ in touched}):
                _refresh_study(conn, study_uid)
        return PutOutcome.CREATED if old is None else PutOutcome.REPLACED

    def candidates(self, query: QidoQuery) -> list[dict[str, Any]]:
        """Rows of ``query.level`` in its path scope, narrowed by the indexed keys the query
        has (study, series and SOP UIDs, PatientID, AccessionNumber, StudyDate, Modality)."""
        keys = narrowing_keys(query)
        where, params = _where(keys, query.level)
        if where is None:
            return []
        conn = self._conn()
        if query.level is QueryLevel.STUDY:
            rows = conn.execute(_SELECT_STUDIES + where, params).fetchall()
            return [
                study_row(
                    json.loads(attrs),
                    series_count=series_count,
                    instance_count=instance_count,
                    modalities=json.loads(modalities),
                    sop_classes=json.loads(sop_classes),
                )
                for attrs, series_count, instance_count, modalities, sop_classes in rows
            ]
        if query.level is QueryLevel.SERIES:
            rows = conn.execute(_SELECT_SERIES + where, params).fetchall()
            return [
                series_row(json.loads(study), json.loads(series), instance_count=count)
                for study, series, count in rows
            ]
        rows = conn.execute(_SELECT_INSTANCES + where, params).fetchall()
        return [
            instance_row(json.loads(study), json.loads(series), instance_from_json(body).instance)
            for study, series, body in rows
        ]

    def instances(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[IndexedInstance]:
        """The instances of a study, of one of its series, or the one instance, in the
        port's order; an empty list for an unknown UID."""
        sql = "SELECT body FROM instances WHERE study_uid = ?"
        params: list[str] = [study_uid]
        if series_uid is not None:
            sql += " AND series_uid = ?"
            params.append(series_uid)
        if sop_uid is not None:
            sql += " AND sop_uid = ?"
            params.append(sop_uid)
        found = [instance_from_json(row[0]) for row in self._conn().execute(sql, params)]
        return sorted(found, key=instance_order)

    def find_sop(self, sop_uid: str) -> IndexedInstance | None:
        """The instance with ``sop_uid`` in any study, or None."""
        row = (
            self._conn()
            .execute("SELECT body FROM instances WHERE sop_uid = ?", (sop_uid,))
            .fetchone()
        )
        return None if row is None else instance_from_json(row[0])


def _refresh_series(conn: sqlite3.Connection, study_uid: str, series_uid: str) -> None:
    """Recompute one series row from its instances; delete it when none is left."""
    groups = conn.execute(
        "SELECT sop_class_uid, modality, count(*), max(seq) FROM instances"
        " WHERE study_uid = ? AND series_uid = ? GROUP BY sop_class_uid, modality",
        (study_uid, series_uid),
    ).fetchall()
    if not groups:
        conn.execute(
            "DELETE FROM series WHERE study_uid = ? AND series_uid = ?", (study_uid, series_uid)
        )
        return
    newest_seq = max(group[3] for group in groups)
    (body,) = conn.execute("SELECT body FROM instances WHERE seq = ?", (newest_seq,)).fetchone()
    newest = instance_from_json(body)
    conn.execute(
        "INSERT OR REPLACE INTO series (study_uid, series_uid, modality, instance_count,"
        " modalities, sop_classes, newest_seq, study_attrs, series_attrs)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (
            study_uid,
            series_uid,
            first_value(newest.series, MODALITY) or "",
            sum(group[2] for group in groups),
            _dumps(sorted({group[1] for group in groups if group[1]})),
            _dumps(sorted({group[0] for group in groups})),
            newest_seq,
            _dumps(newest.study),
            _dumps(newest.series),
        ),
    )


def _refresh_study(conn: sqlite3.Connection, study_uid: str) -> None:
    """Recompute one study row from its series rows; delete it when none is left."""
    rows = conn.execute(
        "SELECT instance_count, modalities, sop_classes, newest_seq, study_attrs FROM series"
        " WHERE study_uid = ?",
        (study_uid,),
    ).fetchall()
    if not rows:
        conn.execute("DELETE FROM studies WHERE study_uid = ?", (study_uid,))
        return
    newest_attrs = max(rows, key=lambda row: int(row[3]))[4]
    study = json.loads(newest_attrs)
    conn.execute(
        "INSERT OR REPLACE INTO studies (study_uid, patient_id, accession, study_date,"
        " series_count, instance_count, modalities, sop_classes, attrs)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (
            study_uid,
            first_value(study, PATIENT_ID) or "",
            first_value(study, ACCESSION_NUMBER) or "",
            first_value(study, STUDY_DATE) or "",
            len(rows),
            sum(int(row[0]) for row in rows),
            _dumps(sorted({m for row in rows for m in json.loads(row[1])})),
            _dumps(sorted({c for row in rows for c in json.loads(row[2])})),
            newest_attrs,
        ),
    )


def _in(column: str, values: frozenset[str]) -> tuple[str, list[str]]:
    ordered = sorted(values)
    return f"{column} IN ({','.join('?' * len(ordered))})", ordered


def _where(keys: NarrowingKeys, level: QueryLevel) -> tuple[str | None, list[str]]:
    """The WHERE clause (with a leading space) and its parameters for ``keys`` at ``level``;
    None when no row can match (an empty UID intersection). The clause holds fixed column
    names and ``?`` placeholders only: every value is a parameter."""
    clauses: list[str] = []
    params: list[str] = []

    def add(clause: str, values: list[str]) -> None:
        clauses.append(clause)
        params.extend(values)

    uid_sets = [("st.study_uid", keys.study_uids)]
    if level is not QueryLevel.STUDY:
        uid_sets.append(("se.series_uid", keys.series_uids))
    if level is QueryLevel.INSTANCE:
        uid_sets.append(("i.sop_uid", keys.sop_uids))
    for column, uids in uid_sets:
        if uids is not None:
            if not uids:
                return None, []
            add(*_in(column, uids))
    if keys.patient_id is not None:
        add("st.patient_id = ?", [keys.patient_id])
    if keys.accession_number is not None:
        add("st.accession = ?", [keys.accession_number])
    if keys.study_date is not None:
        # an undated study is left to the matcher (see instance_rows.date_in_range)
        add(
            "(st.study_date = '' OR st.study_date BETWEEN ? AND ?)",
            [keys.study_date.start or "", keys.study_date.end or "99999999"],
        )
    if keys.modality is not None and level is not QueryLevel.STUDY:
        add("se.modality = ?", [keys.modality])
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
