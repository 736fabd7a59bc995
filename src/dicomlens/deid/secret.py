"""The de-identification key: configured, read from AWS Secrets Manager, or generated once
and kept in the data directory."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from dicomlens.domain.errors import DicomlensError, ErrorCode

SECRET_FILE = "deid-secret"  # noqa: S105 (a file name, not a password)

_fetched: dict[str, bytes] = {}  # secret ARN -> value, read once per process
_fetch_lock = threading.Lock()


def deid_secret(
    configured: SecretStr | None, data_dir: Path, *, secret_arn: str | None = None
) -> bytes:
    """``configured``, else the value of the Secrets Manager secret ``secret_arn`` (read at
    first use, then cached for the process), else the key in ``data_dir/deid-secret``
    (created 0600 on first use).

    The same key must be used for every file that has to map to the same UIDs and dates;
    it never goes into an output file.
    """
    if configured is not None:
        return configured.get_secret_value().encode()
    if secret_arn:
        return _from_secrets_manager(secret_arn)
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


def _from_secrets_manager(secret_arn: str) -> bytes:
    with _fetch_lock:
        cached = _fetched.get(secret_arn)
        if cached is None:
            cached = _fetched[secret_arn] = _fetch(secret_arn)
        return cached


def _fetch(secret_arn: str) -> bytes:
    from botocore.exceptions import ClientError  # noqa: PLC0415 - boto3 only in AWS mode

    client = _client(_region_of(secret_arn))
    try:
        response = client.get_secret_value(SecretId=secret_arn)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise DicomlensError(
            ErrorCode.DEIDENTIFICATION_FAILED,
            f"the de-identification key could not be read from Secrets Manager ({code})",
        ) from exc
    value = str(response.get("SecretString") or "").strip()
    if not value:
        raise DicomlensError(
            ErrorCode.DEIDENTIFICATION_FAILED, "the de-identification key secret is empty"
        )
    return value.encode()


def _client(region: str | None) -> Any:
    """A Secrets Manager client (standard retries) in the secret's region."""
    from dicomlens.adapters.aws.clients import make_client  # noqa: PLC0415

    return make_client("secretsmanager", region=region)


def _region_of(secret_arn: str) -> str | None:
    """``arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`` -> REGION (None if not an ARN)."""
    parts = secret_arn.split(":")
    return (parts[3] or None) if len(parts) >= 7 and parts[0] == "arn" else None
