"""Local SQLite files opened by several processes at once (the worker pool's start)."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time
from pathlib import Path

from dicomlens.adapters.local.sqlite_file import SqliteFile

OPENERS = 6
ROUNDS = 30


def _open_at(job: tuple[str, float]) -> str | None:
    """Open the file at the same instant as the other openers; the error, if any."""
    path, start = job
    while time.time() < start:
        pass
    try:
        SqliteFile(Path(path), ["CREATE TABLE IF NOT EXISTS t (x INTEGER)"]).close()
    except Exception as exc:  # any: reported to the test
        return repr(exc)
    return None


def test_processes_opening_a_new_file_together_all_get_it_in_wal_mode(tmp_path: Path) -> None:
    # Given several processes that open the same new SQLite file at the same instant, again
    # and again (switching a new file to WAL used to fail with "database is locked")
    errors: list[str] = []
    with mp.get_context("fork").Pool(OPENERS) as pool:
        for round_ in range(ROUNDS):
            path = str(tmp_path / f"new-{round_}.sqlite3")
            start = time.time() + 0.05
            errors += [e for e in pool.map(_open_at, [(path, start)] * OPENERS) if e]
    # Then every one of them opened it, and the file is in WAL mode
    assert errors == []
    conn = sqlite3.connect(tmp_path / "new-0.sqlite3")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
