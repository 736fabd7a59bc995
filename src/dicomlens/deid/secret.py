"""The de-identification key generated once and kept in the data directory (the local
stack's default; :func:`dicomlens.bootstrap.deid_key` decides which key is used)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = "deid-secret"  # noqa: S105 (a file name, not a password)


def load_or_create_key(data_dir: Path) -> bytes:
    """The key in ``data_dir/deid-secret``, created (64 hex digits, mode 0600) on first use.

    The same key must be used for every file that has to map to the same UIDs and dates;
    it never goes into an output file.
    """
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
