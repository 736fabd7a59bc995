"""The S3 :class:`~dicomlens.ports.BlobStore`: presigned POST uploads, presigned GETs,
derived files, and local copies for the decoder.

Presigned URLs are signed with the caller's credentials (in Lambda, the role's session
credentials): they stop working when those expire, so results mint them at read time.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from dicomlens.adapters.aws.clients import AWS_ERRORS, error_code, translate
from dicomlens.ports import Clock, PresignedPost

_MIN_UPLOAD_BYTES = 1  # an empty upload is never a medical image


class S3BlobStore:
    """Objects in one bucket: ``uploads/`` (the trigger prefix) and ``derived/``."""

    def __init__(self, client: Any, *, bucket: str, clock: Clock, temp_dir: Path | None = None):
        self._s3 = client
        self.bucket = bucket
        self._clock = clock
        self._temp_dir = temp_dir

    def presign_post(
        self, *, key: str, content_type: str, max_bytes: int, expires_in_s: int
    ) -> PresignedPost:
        """A form upload whose signed policy fixes the key and content type and bounds the
        size (``content-length-range``): S3 refuses anything else with 403."""
        try:
            signed = self._s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={"Content-Type": content_type},
                Conditions=[
                    {"Content-Type": content_type},
                    ["content-length-range", _MIN_UPLOAD_BYTES, max_bytes],
                ],
                ExpiresIn=expires_in_s,
            )
        except AWS_ERRORS as exc:
            raise translate(exc, action="presign upload") from exc
        return PresignedPost(
            url=signed["url"],
            fields={str(name): str(value) for name, value in signed["fields"].items()},
            expires_at=self._clock.now() + timedelta(seconds=expires_in_s),
        )

    def presign_get(self, key: str, *, expires_in_s: int, download_name: str | None = None) -> str:
        """A SigV4 GET URL on the bucket's regional endpoint, valid ``expires_in_s``."""
        params: dict[str, str] = {"Bucket": self.bucket, "Key": key}
        if download_name:
            safe = download_name.replace('"', "").replace("\\", "")
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        try:
            url: str = self._s3.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in_s
            )
        except AWS_ERRORS as exc:
            raise translate(exc, action="presign download") from exc
        return url

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store a derived file (the bucket's default encryption applies)."""
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except AWS_ERRORS as exc:
            raise translate(exc, action="store object") from exc

    def store_upload(self, key: str, source: Path, *, content_type: str) -> str | None:
        """Store ``source`` as the upload ``key`` (the bucket's ObjectCreated notification then
        queues its processing, as for a browser's form upload); only if no object is there
        (``If-None-Match: *``: an upload is never overwritten). Returns the version id."""
        try:
            with source.open("rb") as body:
                response = self._s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType=content_type,
                    IfNoneMatch="*",
                )
        except AWS_ERRORS as exc:
            raise translate(exc, action="store upload") from exc
        version = response.get("VersionId")
        return str(version) if version else None

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored (HEAD; 404 is False, other errors raise).

        S3 answers a HEAD for a missing key with 403, not 404, when the caller lacks
        ``s3:ListBucket``; the function roles deliberately lack it (listing would reveal
        every job's file names), so 403 on HEAD also reads as absent.
        """
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except AWS_ERRORS as exc:
            absent = ("404", "NoSuchKey", "NotFound", "403", "AccessDenied")
            if isinstance(exc, ClientError) and error_code(exc) in absent:
                return False
            raise translate(exc, action="look up object") from exc
        return True

    def read_range(
        self, key: str, start: int, length: int, *, version_id: str | None = None
    ) -> bytes:
        """One ranged GET (``Range: bytes=start-end``) of the object (its version when
        given)."""
        if length <= 0:
            return b""
        try:
            version = {"VersionId": version_id} if version_id else {}
            response = self._s3.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}", **version
            )
            body = response["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
        except AWS_ERRORS as exc:
            raise translate(exc, action="read object") from exc
        return data

    @contextlib.contextmanager
    def local_copy(self, key: str, *, version_id: str | None = None) -> Iterator[Path]:
        """The object (its version ``version_id`` when given) downloaded to a temporary file
        (Lambda: /tmp), removed afterwards."""
        with tempfile.TemporaryDirectory(dir=self._temp_dir, prefix="dicomlens-") as tmp:
            path = Path(tmp) / (key.rsplit("/", 1)[-1] or "object")
            try:
                version = {"VersionId": version_id} if version_id else {}
                response = self._s3.get_object(Bucket=self.bucket, Key=key, **version)
            except AWS_ERRORS as exc:
                raise translate(exc, action="read object") from exc
            body = response["Body"]
            try:
                with path.open("wb") as out:
                    for chunk in body.iter_chunks(1 << 20):
                        out.write(chunk)
            except AWS_ERRORS as exc:  # the stream broke or timed out: transient
                raise translate(exc, action="read object") from exc
            finally:
                body.close()
            yield path
