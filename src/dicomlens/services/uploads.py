"""Create an upload: validate what the browser declares, open a PENDING job, sign a form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dicomlens.domain import jobs as job_rules
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.keys import upload_key
from dicomlens.ports import BlobStore, Clock, IdGenerator, JobStore, PresignedPost

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_NAME_CHARS = 1024


@dataclass(frozen=True, kw_only=True)
class UploadRules:
    """What an upload may be: a size limit, allowed content types, how long the form lives."""

    max_bytes: int
    allowed_content_types: tuple[str, ...]
    expires_in_s: int


@dataclass(frozen=True, kw_only=True)
class UploadGrant:
    """A new job and the signed form the browser posts its file with."""

    job_id: str
    post: PresignedPost
    expires_at: datetime
    max_bytes: int


def normalize_content_type(value: str | None) -> str:
    """The media type without parameters, lower case; absent means octet-stream."""
    if value is None or not value.strip():
        return DEFAULT_CONTENT_TYPE
    return value.split(";", 1)[0].strip().lower()


class UploadService:
    """``POST /uploads``: the server chooses the key; the form allows exactly one file."""

    def __init__(
        self,
        *,
        blobs: BlobStore,
        jobs: JobStore,
        clock: Clock,
        ids: IdGenerator,
        rules: UploadRules,
    ) -> None:
        self._blobs = blobs
        self._jobs = jobs
        self._clock = clock
        self._ids = ids
        self.rules = rules

    def create_upload(self, *, file_name: str, content_type: str | None, size: int) -> UploadGrant:
        """Open a PENDING job for a file of ``size`` bytes and sign its upload form.

        Raises ``DicomlensError``: ``TOO_LARGE`` above the limit, ``VALIDATION_ERROR`` for an
        empty or overlong name, a non-positive size or a content type outside the allow-list.
        """
        if not file_name.strip() or len(file_name) > MAX_NAME_CHARS or "\x00" in file_name:
            raise DicomlensError(
                ErrorCode.VALIDATION_ERROR,
                f"fileName must be 1 to {MAX_NAME_CHARS} characters without NUL",
            )
        if size <= 0:
            raise DicomlensError(ErrorCode.VALIDATION_ERROR, "size must be a positive byte count")
        if size > self.rules.max_bytes:
            raise DicomlensError(
                ErrorCode.TOO_LARGE,
                f"the file has {size} bytes; the limit is {self.rules.max_bytes}",
            )
        media_type = normalize_content_type(content_type)
        if media_type not in self.rules.allowed_content_types:
            allowed = ", ".join(self.rules.allowed_content_types)
            raise DicomlensError(
                ErrorCode.VALIDATION_ERROR, f"contentType must be one of: {allowed}"
            )
        job_id = self._ids.new_id()
        key = upload_key(job_id, file_name)
        now = self._clock.now()
        post = self._blobs.presign_post(
            key=key, content_type=media_type, max_bytes=size, expires_in_s=self.rules.expires_in_s
        )
        job = job_rules.new_job(
            job_id=job_id,
            file_name=file_name,
            content_type=media_type,
            size=size,
            upload_key=key,
            now=now,
            upload_expires_at=post.expires_at,
        )
        self._jobs.create(job)
        return UploadGrant(
            job_id=job_id, post=post, expires_at=post.expires_at, max_bytes=self.rules.max_bytes
        )
