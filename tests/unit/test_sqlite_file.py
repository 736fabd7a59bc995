"""Local SQLite files opened by several processes at once (the worker pool's start), and by
several stores in one process."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from dicomlens.adapters.local.sqlite_file import SqliteFile
from dicomlens.local.event_queue import EventQueue

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


def test_a_second_store_on_an_open_database_keeps_this_process_s_writes_visible(
    tmp_path: Path,
) -> None:
    # Given a process with an event queue open and in use (the server), which then opens a
    # second store on the same file (the worker pool's monitor does, after a worker crash)
    path = tmp_path / "queue.sqlite3"
    first = EventQueue(path)
    assert first.put("a", {"n": 1})
    second = EventQueue(path)
    assert len(second) == 1
    # When another process opens the file and exits cleanly (a worker leaving), closing
    # what it believes may be the file's last connection
    subprocess.run([sys.executable, "-c", _OPEN_AND_CLOSE, str(path)], check=True, timeout=60)
    # Then what this process writes afterwards is seen by every other process (opening a
    # second store used to drop this process's SQLite locks: the leaving process then
    # deleted the WAL, and later writes went to the deleted file, seen by nobody else)
    assert first.put("b", {"n": 2})
    seen = subprocess.run(
        [sys.executable, "-c", _COUNT, str(path)],
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert seen == "2"
    assert (tmp_path / "queue.sqlite3-wal").exists()


_OPEN_AND_CLOSE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT count(*) FROM events").fetchone()
conn.close()
"""

_COUNT = """
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM events").fetchone()[0])
"""
