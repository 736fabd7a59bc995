"""A full disk under the data directory is a transient failure (TransientError), never a
crash or a failed job: classified once, raised by the SQLite stores and the blob store."""

from __future__ import annotations

import errno
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest

from dicomlens.adapters.local.files import LocalBlobStore
from dicomlens.adapters.local.signing import Signer
from dicomlens.adapters.local.storage_full import is_storage_full
from dicomlens.domain.errors import ErrorCode, TransientError
from dicomlens.local.event_queue import EventQueue
from fakes import FakeClock


def test_full_disk_and_quota_errors_are_recognised() -> None:
    full_sqlite = sqlite3.OperationalError("database or disk is full")
    full_sqlite.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    assert is_storage_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_storage_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert is_storage_full(full_sqlite)
    assert not is_storage_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_storage_full(locked)
    assert not is_storage_full(ValueError("no"))


def test_a_full_queue_database_raises_transient_and_recovers(tmp_path: Path) -> None:
    queue = EventQueue(tmp_path / "queue.sqlite3")
    conn = queue._conn()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    body = {"Records": [{"x": "y" * 3000}]}

    def fill() -> None:
        for index in range(100):
            queue.put(f"key-{index}", body)

    with pytest.raises(TransientError) as raised:
        fill()
    assert raised.value.code is ErrorCode.SERVICE_UNAVAILABLE
    assert "storage is full" in raised.value.message
    stored = len(queue)
    # Once there is room again, the same connection writes (no transaction left open)
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert queue.put("after", body)
    assert len(queue) == stored + 1
    delivery = queue.lease(lease_s=10)
    assert delivery is not None
    assert queue.retry_transient(delivery.event_id) == 2.0


def test_a_blob_the_full_disk_cannot_hold_raises_transient_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobStore(
        tmp_path / "blobs", signer=Signer(b"s" * 32), base_url="http://x", clock=FakeClock()
    )

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    with pytest.raises(TransientError):
        store.put_bytes("derived/abc/preview.png", b"png", content_type="image/png")
    assert not store.exists("derived/abc/preview.png")


def test_a_write_that_fills_the_disk_midway_leaves_no_partial_file(tmp_path: Path) -> None:
    store = LocalBlobStore(
        tmp_path / "blobs", signer=Signer(b"s" * 32), base_url="http://x", clock=FakeClock()
    )
    target = store.path_of("derived/abc/preview.png")

    def write_until_full() -> None:
        with store.open_atomic(target) as handle:
            handle.write(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(TransientError):
        write_until_full()
    assert not target.exists()
    assert store.remove_partial_files() == 0


def test_an_sqlite_io_error_counts_as_full_only_when_its_disk_has_no_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dicomlens.adapters.local import storage_full

    # SQLite says "disk I/O error" when it cannot grow its shared-memory file on a full disk
    shm = sqlite3.OperationalError("disk I/O error")
    shm.sqlite_errorcode = sqlite3.SQLITE_IOERR | (19 << 8)  # type: ignore[attr-defined]
    database = tmp_path / "queue.sqlite3"
    assert not is_storage_full(shm)  # no disk to look at
    assert not is_storage_full(shm, where=database)  # this disk has room: a real I/O error
    monkeypatch.setattr(storage_full, "_LOW_ROOM_BYTES", 1 << 62)  # as if it had none
    assert is_storage_full(shm, where=database)
