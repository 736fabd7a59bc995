"""A full disk (or quota) under the data directory is a transient failure of the server.

It says nothing about the file being processed or the request being made, so the local
adapters raise :class:`~dicomlens.domain.errors.TransientError` for it, as the AWS adapters do
for a throttled service: a job is released and retried later instead of failed, a request
is answered 503 ``SERVICE_UNAVAILABLE`` instead of 500, and nothing a client sent is lost.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from dicomlens.domain.errors import TransientError

STORAGE_FULL_MESSAGE = "the server's storage is full; try again later"
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk or the quota is full (``ENOSPC``, ``EDQUOT``, SQLite's
    ``SQLITE_FULL``)."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    return (
        isinstance(exc, sqlite3.OperationalError)
        and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    )


@contextmanager
def full_storage_is_transient() -> Iterator[None]:
    """Raise :class:`TransientError` for a full disk or quota inside the block."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        if is_storage_full(exc):
            raise TransientError(STORAGE_FULL_MESSAGE) from exc
        raise
