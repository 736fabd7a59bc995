"""A durable queue of S3-shaped events in SQLite: the local stand-in for S3 -> Lambda.

An event is committed before the upload is acknowledged, so an accepted upload is never
lost. Consumers lease an event, run the processor and then delete it (``ack``) or push it
back (``retry_at``); an event whose consumer died becomes visible again when its lease ends
or, on restart, at once (:meth:`EventQueue.release_all`). Delivery is at least once: the
processor's conditional claim makes a repeat harmless. The database (and so its -wal and
-shm files) is readable by its owner only: events name the uploads.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicomlens.adapters.local.sqlite_file import SqliteFile
from dicomlens.private_files import create_private_file

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        dedupe_key   TEXT NOT NULL UNIQUE,
        body         TEXT NOT NULL,
        available_at REAL NOT NULL,
        lease_until  REAL,
        deliveries   INTEGER NOT NULL DEFAULT 0,
        transient_retries INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS events_ready ON events (available_at)",
)
TRANSIENT_FIRST_WAIT_S = 2.0  # then doubled on each transient retry of the event ...
TRANSIENT_MAX_WAIT_S = 60.0  # ... up to this


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """A leased event: ``deliveries`` counts this one."""

    event_id: int
    dedupe_key: str
    body: dict[str, Any]
    deliveries: int


class EventQueue(SqliteFile):
    """Events in ``path``; usable from many threads and processes at once."""

    def __init__(self, path: Path) -> None:
        create_private_file(path)
        super().__init__(path, _SCHEMA)
        with self._write() as conn:  # a queue from before transient retries were counted
            columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
            if "transient_retries" not in columns:
                conn.execute(
                    "ALTER TABLE events ADD COLUMN transient_retries INTEGER NOT NULL DEFAULT 0"
                )

    def put(self, dedupe_key: str, body: dict[str, Any], *, now: float | None = None) -> bool:
        """Queue ``body`` unless an event with ``dedupe_key`` is queued. True if queued."""
        cursor = self._conn().execute(
            "INSERT OR IGNORE INTO events (dedupe_key, body, available_at) VALUES (?, ?, ?)",
            (dedupe_key, json.dumps(body, separators=(",", ":")), now or time.time()),
        )
        return cursor.rowcount == 1

    def lease(self, *, lease_s: float, now: float | None = None) -> Delivery | None:
        """The oldest visible event, leased for ``lease_s`` seconds; None when there is none."""
        now = now or time.time()
        row = (
            self._conn()
            .execute(
                "UPDATE events SET lease_until = ?, deliveries = deliveries + 1 WHERE id = ("
                " SELECT id FROM events WHERE available_at <= ?"
                " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY available_at, id LIMIT 1"
                ") RETURNING id, dedupe_key, body, deliveries",
                (now + lease_s, now, now),
            )
            .fetchone()
        )
        if row is None:
            return None
        return Delivery(
            event_id=row[0], dedupe_key=row[1], body=json.loads(row[2]), deliveries=row[3]
        )

    def body(self, event_id: int) -> dict[str, Any] | None:
        """The body of a queued event, or None when it is gone (acknowledged)."""
        row = self._conn().execute("SELECT body FROM events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            return None
        body: dict[str, Any] = json.loads(row[0])
        return body

    def ack(self, event_id: int) -> None:
        """Remove a delivered event."""
        self._conn().execute("DELETE FROM events WHERE id = ?", (event_id,))

    def retry_at(self, event_id: int, when: float) -> None:
        """Make a leased event visible again at ``when`` (epoch seconds)."""
        self._conn().execute(
            "UPDATE events SET lease_until = NULL, available_at = ? WHERE id = ?", (when, event_id)
        )

    def retry_transient(self, event_id: int, *, now: float | None = None) -> float:
        """Make a leased event visible again after a transient failure (a full disk): after
        2 s, doubled on each such retry of the event up to 60 s, and without counting this
        delivery (a transient failure is no reason to give up on the file). Returns the
        wait in seconds."""
        now = now or time.time()
        with self._write() as conn:
            row = conn.execute(
                "SELECT transient_retries FROM events WHERE id = ?", (event_id,)
            ).fetchone()
            if row is None:
                return 0.0
            wait = min(TRANSIENT_MAX_WAIT_S, TRANSIENT_FIRST_WAIT_S * 2.0 ** min(int(row[0]), 16))
            conn.execute(
                "UPDATE events SET lease_until = NULL, available_at = ?,"
                " deliveries = max(0, deliveries - 1), transient_retries = transient_retries + 1"
                " WHERE id = ?",
                (now + wait, event_id),
            )
        return wait

    def release_all(self) -> int:
        """End every lease (at start-up, when no consumer of the previous run is alive)."""
        return (
            self._conn()
            .execute("UPDATE events SET lease_until = NULL WHERE lease_until IS NOT NULL")
            .rowcount
        )

    def queued_keys(self) -> set[str]:
        """The dedupe keys of every queued event."""
        return {row[0] for row in self._conn().execute("SELECT dedupe_key FROM events")}

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM events").fetchone()[0])

    def next_visible_in(self, *, now: float | None = None) -> float | None:
        """Seconds until the next event becomes visible (0 if one is), None if empty."""
        now = now or time.time()
        row = (
            self._conn()
            .execute("SELECT min(max(available_at, coalesce(lease_until, 0))) FROM events")
            .fetchone()
        )
        if row is None or row[0] is None:
            return None
        return max(0.0, float(row[0]) - now)
