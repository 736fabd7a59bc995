"""One SQLite file shared by threads (a connection each) and processes: the base of the
local job store, instance index and event queue.

WAL journal, a long busy timeout, and ``BEGIN IMMEDIATE`` for every read-modify-write (a
deferred transaction that upgrades to a write lock can fail at once with "database is
locked", whatever the busy timeout).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_MS = 60_000


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode with WAL, a busy timeout and synchronous=NORMAL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a committed transaction survives a process crash (kill -9); only a
    # power loss can drop the last commits.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


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
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
