"""HMAC-signed upload policies and download URLs: the local stand-in for S3 signatures.

An upload policy is the JSON document of an S3 presigned POST (expiration and conditions:
exact key, exact content type, content-length-range), base64-encoded and signed with
HMAC-SHA256. A download URL signs ``key``, expiry and download name. Signatures are compared
in constant time; any change to a signed value invalidates it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.private_files import read_or_create_key_file


@dataclass(frozen=True, kw_only=True)
class UploadPolicy:
    """What a signed upload form allows: one key, one content type, a size range, a deadline."""

    key: str
    content_type: str
    min_bytes: int
    max_bytes: int
    expires_at: datetime


def load_or_create_secret(path: Path) -> bytes:
    """The HMAC key kept at ``path`` (created once, atomically, owner-readable only)."""
    return bytes.fromhex(read_or_create_key_file(path))


def same_text(expected: str, given: str) -> bool:
    """Whether ``given`` equals ``expected``, in constant time for any text a client sends
    (``hmac.compare_digest`` refuses ``str`` with characters outside ASCII)."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )


class Signer:
    """Signs and verifies upload policies and download URLs with one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, message: bytes) -> str:
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign_policy(self, policy: UploadPolicy) -> tuple[str, str]:
        """``(policy, signature)``: the base64 policy document and its HMAC."""
        document = {
            "expiration": policy.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "conditions": [
                {"key": policy.key},
                {"Content-Type": policy.content_type},
                ["content-length-range", policy.min_bytes, policy.max_bytes],
            ],
        }
        encoded = base64.b64encode(json.dumps(document, sort_keys=True).encode()).decode("ascii")
        return encoded, self._mac(encoded.encode("ascii"))

    def verify_policy(self, encoded: str, signature: str, *, now: datetime) -> UploadPolicy:
        """The policy, if ``signature`` is valid for it and it has not expired.

        Raises ``DicomlensError(UPLOAD_REJECTED)`` otherwise.
        """
        if not same_text(self._mac(encoded.encode("utf-8", "surrogatepass")), signature):
            raise DicomlensError(
                ErrorCode.UPLOAD_REJECTED, "the upload policy signature is invalid"
            )
        try:
            document = json.loads(base64.b64decode(encoded, validate=True))
            conditions = document["conditions"]
            key = conditions[0]["key"]
            content_type = conditions[1]["Content-Type"]
            _, low, high = conditions[2]
            expires_at = datetime.fromisoformat(document["expiration"])
        except (binascii.Error, ValueError, KeyError, IndexError, TypeError) as exc:
            raise DicomlensError(
                ErrorCode.UPLOAD_REJECTED, "the upload policy is malformed"
            ) from exc
        if expires_at <= now:
            raise DicomlensError(ErrorCode.UPLOAD_REJECTED, "the upload policy has expired")
        return UploadPolicy(
            key=str(key),
            content_type=str(content_type),
            min_bytes=int(low),
            max_bytes=int(high),
            expires_at=expires_at,
        )

    def sign_download(self, key: str, *, expires: int, name: str) -> str:
        """The signature of a download URL for ``key`` valid until the epoch second ``expires``."""
        return self._mac(f"GET\n{key}\n{expires}\n{name}".encode("utf-8", "surrogatepass"))

    def verify_download(
        self, key: str, *, expires: int, name: str, signature: str, now: datetime
    ) -> bool:
        """Whether a download URL's signature is valid and unexpired."""
        if expires < now.timestamp():
            return False
        return same_text(self.sign_download(key, expires=expires, name=name), signature)
