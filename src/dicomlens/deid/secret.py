"""The de-identification key generated once and kept in the data directory (the local
stack's default; :func:`dicomlens.bootstrap.deid_key` decides which key is used)."""

from __future__ import annotations

from pathlib import Path

from dicomlens.private_files import read_or_create_key_file

SECRET_FILE = "deid-secret"  # noqa: S105 (a file name, not a password)


def load_or_create_key(data_dir: Path) -> bytes:
    """The key in ``data_dir/deid-secret``, created (64 hex digits, mode 0600, atomically:
    never briefly readable by others nor seen half written) on first use.

    The same key must be used for every file that has to map to the same UIDs and dates;
    it never goes into an output file.
    """
    return read_or_create_key_file(data_dir / SECRET_FILE).encode()
