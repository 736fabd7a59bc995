"""The de-identification key: configured, or generated once and kept in the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

SECRET_FILE = "deid-secret"  # noqa: S105 (a file name, not a password)


def deid_secret(configured: SecretStr | None, data_dir: Path) -> bytes:
    """``configured``, else the key in ``data_dir/deid-secret`` (created 0600 on first use).

    The same key must be used for every file that has to map to the same UIDs and dates;
    it never goes into an output file.
    """
    if configured is not None:
        return configured.get_secret_value().encode()
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
