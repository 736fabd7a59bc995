"""One SQLite file shared by threads (a connection each) and processes: the base of the
local job store, instance index and event queue.

WAL journal, a long busy timeout, and ``BEGIN IMMEDIATE`` for every read-modify-write (a
deferred transaction that upgrades to a write lock can fail at once with "database is
locked", whatever the busy timeout). A full disk is a
:class:`~dicomlens.domain.errors.TransientError` (:mod:`.storage_full`).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dicomlens.adapters.local.storage_full import full_storage_is_transient

BUSY_TIMEOUT_MS = 60_000


class _Connection(sqlite3.Connection):
    """A connection whose statements raise TransientError when the disk is full."""

    path: Path | None = None  # the database file (set by connect)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        """``sqlite3.Connection.execute``; a full disk raises TransientError."""
        with full_storage_is_transient(self.path):
            return super().execute(sql, parameters)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode with WAL, a busy timeout and synchronous=NORMAL."""
    with full_storage_is_transient():
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
        factory=_Connection,
    )
    conn.path = path
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _use_wal(conn)
    # NORMAL in WAL mode: a committed transaction survives a process crash (kill -9); only a
    # power loss can drop the last commits.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (persistent: later connections find it so).

    Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, to a connection that asks while another is
    switching: two worker processes opening a new file together. Retried here, within the
    busy timeout (6 processes opening 40 new files together: 19 such failures without it).
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class SqliteFile:
    """The SQLite file at ``path`` with ``schema`` (statements) created if missing."""

    def __init__(self, path: Path, schema: Iterable[str]) -> None:
        self.path = path
        self._local = threading.local()
        with self._write() as conn:
            for statement in schema:
                if statement.strip():
                    conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), rolled back if the block raises."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # also when COMMIT failed (a full disk): SQLite leaves that transaction open, and
            # this thread's next BEGIN would fail on it
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
