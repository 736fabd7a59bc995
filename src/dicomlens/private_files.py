"""Files only their owner may read: key files and the local server's databases.

A key is written to a private temporary file (``O_CREAT | O_EXCL``, mode 0600 from the first
byte, so it is never briefly readable by others), flushed to disk, then linked at its name.
``link`` fails when another process published the key first; both then use the winner's, so
every process of one data directory signs with the same key, and no reader ever sees a
partly written one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def read_or_create_key_file(path: Path) -> str:
    """The text of the key file at ``path``; if there is none, 64 new random hex digits are
    written there first (mode 0600, atomically, see the module docstring)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _sync_directory(path.parent)
    return path.read_text().strip()


def create_private_file(path: Path) -> None:
    """Make sure ``path`` exists with mode 0600 (created so from the start; an existing file
    is made private). SQLite gives a database's -wal and -shm files the database's mode.

    An existing file is never opened: closing any descriptor of a file drops every POSIX
    lock this process holds on it, those of its open SQLite connections too. A process that
    opened a second store on a database it already had open (the worker pool's monitor, after
    a worker crash) lost its locks that way. A worker exiting next then saw itself as the
    database's last user and deleted its WAL, and the server's later writes went to the
    deleted file, unseen by any other process ("How To Corrupt An SQLite Database File",
    section 2.2).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    with contextlib.suppress(FileExistsError):  # an existing file may be open here: see above
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    path.chmod(PRIVATE_FILE_MODE)


def _sync_directory(directory: Path) -> None:
    """Make a new directory entry durable (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
