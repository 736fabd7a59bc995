"""The de-identification key kept in AWS Secrets Manager (the secret the template creates,
named by ``DICOMLENS_DEID_SECRET_ARN``)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dicomlens.adapters.aws.clients import error_code
from dicomlens.domain.errors import DicomlensError, ErrorCode


class SecretsManagerKey:
    """Reads a key stored as the ``SecretString`` of one Secrets Manager secret."""

    def __init__(self, client: Any) -> None:
        self._secrets = client

    def read(self, secret_arn: str) -> bytes:
        """The secret's current value as bytes (surrounding whitespace removed).

        DEIDENTIFICATION_FAILED, raised from the ClientError, when the secret cannot be read
        (the message names the service's error code, never the ARN); also when it is empty.
        """
        try:
            response = self._secrets.get_secret_value(SecretId=secret_arn)
        except ClientError as exc:
            raise DicomlensError(
                ErrorCode.DEIDENTIFICATION_FAILED,
                "the de-identification key could not be read from Secrets Manager "
                f"({error_code(exc)})",
            ) from exc
        value = str(response.get("SecretString") or "").strip()
        if not value:
            raise DicomlensError(
                ErrorCode.DEIDENTIFICATION_FAILED, "the de-identification key secret is empty"
            )
        return value.encode()


def secret_region(secret_arn: str) -> str | None:
    """``arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`` -> REGION (None if not an ARN)."""
    parts = secret_arn.split(":")
    return (parts[3] or None) if len(parts) >= 7 and parts[0] == "arn" else None
