"""The job table in SQLite: the local :class:`~dicomlens.ports.JobStore`.

One row per job: the conditional columns (status, attempts, lease) plus the whole job as
JSON, in a :class:`~dicomlens.adapters.local.sqlite_file.SqliteFile` (WAL, ``BEGIN
IMMEDIATE`` for every read-modify-write, one connection per thread).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from dicomlens.adapters.local.sqlite_file import SqliteFile
from dicomlens.domain import jobs
from dicomlens.domain.errors import DicomlensError, ErrorCode, IllegalTransitionError
from dicomlens.domain.job_records import job_from_record, job_to_record
from dicomlens.domain.jobs import Job, JobStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id      TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    lease_until REAL,
    body        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (status)
    WHERE status IN ('PENDING', 'PROCESSING');
"""


def job_to_json(job: Job) -> str:
    """The job as a JSON document (the stored form)."""
    return json.dumps(job_to_record(job), separators=(",", ":"))


def job_from_json(text: str) -> Job:
    """The job stored as ``text`` by :func:`job_to_json`."""
    return job_from_record(json.loads(text))


class SqliteJobStore(SqliteFile):
    """Jobs in one SQLite file; safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA.split(";"))

    def create(self, job: Job) -> None:
        """Insert a new job; ``CONFLICT`` if the id exists."""
        try:
            self._conn().execute(
                "INSERT INTO jobs (job_id, status, attempts, lease_until, body) VALUES (?,?,?,?,?)",
                (
                    job.job_id,
                    str(job.status),
                    job.attempts,
                    _epoch(job.lease_until),
                    job_to_json(job),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise DicomlensError(ErrorCode.CONFLICT, "a job with this id exists") from exc

    def get(self, job_id: str) -> Job | None:
        """The job with ``job_id``, or None."""
        row = self._conn().execute("SELECT body FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else job_from_json(row[0])

    def status(self, job_id: str) -> JobStatus | None:
        """The status of the job with ``job_id``, or None: one indexed column, without
        reading the job itself (a cheap check for whoever waits for a job to end)."""
        row = self._conn().execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else JobStatus(row[0])

    def claim(self, job_id: str, *, now: datetime, lease_s: float) -> Job | None:
        """PENDING (or PROCESSING with an expired lease) -> PROCESSING, atomically."""
        with self._write() as conn:
            row = conn.execute("SELECT body FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            try:
                claimed = jobs.claim(
                    job_from_json(row[0]), now=now, lease_until=now + timedelta(seconds=lease_s)
                )
            except IllegalTransitionError:
                return None
            self._update(conn, claimed)
            return claimed

    def finish(self, job: Job) -> bool:
        """Store a finished ``job`` if it is still PROCESSING under the same attempt."""
        if job.status not in jobs.TERMINAL:
            raise IllegalTransitionError(f"job {job.job_id}: finish needs a finished job")
        cursor = self._conn().execute(
            "UPDATE jobs SET status = ?, lease_until = NULL, body = ? "
            "WHERE job_id = ? AND status = 'PROCESSING' AND attempts = ?",
            (str(job.status), job_to_json(job), job.job_id, job.attempts),
        )
        return cursor.rowcount == 1

    def release(self, job: Job) -> bool:
        """Store a released PROCESSING ``job`` if it is still PROCESSING under its attempt."""
        if job.status is not jobs.JobStatus.PROCESSING:
            raise IllegalTransitionError(f"job {job.job_id}: release needs a PROCESSING job")
        cursor = self._conn().execute(
            "UPDATE jobs SET lease_until = ?, body = ? "
            "WHERE job_id = ? AND status = 'PROCESSING' AND attempts = ?",
            (_epoch(job.lease_until), job_to_json(job), job.job_id, job.attempts),
        )
        return cursor.rowcount == 1

    def expire(self, job: Job) -> bool:
        """Store an EXPIRED ``job`` if it is still PENDING."""
        if job.status is not jobs.JobStatus.EXPIRED:
            raise IllegalTransitionError(f"job {job.job_id}: expire needs an EXPIRED job")
        cursor = self._conn().execute(
            "UPDATE jobs SET status = ?, lease_until = NULL, body = ? "
            "WHERE job_id = ? AND status = 'PENDING'",
            (str(job.status), job_to_json(job), job.job_id),
        )
        return cursor.rowcount == 1

    # Local-runtime operations (not part of the port).

    def unfinished(self) -> list[Job]:
        """Every PENDING or PROCESSING job (crash recovery)."""
        rows = (
            self._conn()
            .execute("SELECT body FROM jobs WHERE status IN ('PENDING', 'PROCESSING')")
            .fetchall()
        )
        return [job_from_json(row[0]) for row in rows]

    def expire_leases(self, *, now: datetime) -> int:
        """End every PROCESSING lease now. Only safe when no other process holds a claim
        (the local runtime owns its data directory through a lock). Returns how many."""
        count = 0
        with self._write() as conn:
            rows = conn.execute("SELECT body FROM jobs WHERE status = 'PROCESSING'").fetchall()
            for (body,) in rows:
                job = job_from_json(body)
                self._update(conn, replace(job, lease_until=now))
                count += 1
        return count

    @staticmethod
    def _update(conn: sqlite3.Connection, job: Job) -> None:
        conn.execute(
            "UPDATE jobs SET status = ?, attempts = ?, lease_until = ?, body = ? WHERE job_id = ?",
            (str(job.status), job.attempts, _epoch(job.lease_until), job_to_json(job), job.job_id),
        )


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()
