"""A full disk (or quota) under the data directory is a transient failure of the server.

It says nothing about the file being processed or the request being made, so the local
adapters raise :class:`~dicomlens.domain.errors.TransientError` for it, as the AWS adapters do
for a throttled service: a job is released and retried later instead of failed, a request
is answered 503 ``SERVICE_UNAVAILABLE`` instead of 500, and nothing a client sent is lost.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dicomlens.domain.errors import TransientError

STORAGE_FULL_MESSAGE = "the server's storage is full; try again later"
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_LOW_ROOM_BYTES = 1024 * 1024


def is_storage_full(exc: BaseException, *, where: Path | None = None) -> bool:
    """Whether ``exc`` says the disk or the quota is full: ``ENOSPC``, ``EDQUOT``, SQLite's
    ``SQLITE_FULL``, or (with ``where``, a path on the disk in question) an SQLite I/O error
    while that file system has no room left (SQLite reports a shared-memory or journal file
    it could not grow as "disk I/O error")."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return True
    is_io_error = code is not None and code & 0xFF == sqlite3.SQLITE_IOERR
    return is_io_error and where is not None and _no_room(where)


def _no_room(where: Path) -> bool:
    """Whether the file system holding ``where`` has less than 1 MiB left for us."""
    try:
        stats = os.statvfs(where if where.exists() else where.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < _LOW_ROOM_BYTES


@contextmanager
def full_storage_is_transient(where: Path | None = None) -> Iterator[None]:
    """Raise :class:`TransientError` for a full disk or quota inside the block (``where``:
    a path on that disk, see :func:`is_storage_full`)."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        if is_storage_full(exc, where=where):
            raise TransientError(STORAGE_FULL_MESSAGE) from exc
        raise
