"""The object-key scheme: where uploads and derived files live in blob storage.

Uploads go under ``uploads/{jobId}/{safe-name}`` (the trigger prefix); derived images under
``derived/{jobId}/`` so that writing them never re-triggers processing. The server builds
every key: a client never chooses a path.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_plus

UPLOADS_PREFIX = "uploads/"
DERIVED_PREFIX = "derived/"
_MAX_NAME = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def safe_file_name(name: str) -> str:
    """A file name reduced to ``[A-Za-z0-9._-]``, without directories or leading dots.

    Path traversal (``../``, absolute paths, backslashes, NUL) cannot survive: only the last
    path component is kept and every other character becomes ``_``.
    """
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = _UNSAFE.sub("_", base).lstrip("._")
    if len(base) > _MAX_NAME:
        stem, dot, ext = base.rpartition(".")
        base = (
            (stem[: _MAX_NAME - len(ext) - 1] + "." + ext)
            if dot and len(ext) <= 10
            else base[:_MAX_NAME]
        )
    return base or "upload"


def is_job_id(value: str) -> bool:
    """Whether ``value`` has the shape of a job id (32 lowercase hex digits)."""
    return bool(_JOB_ID.match(value))


def upload_key(job_id: str, file_name: str) -> str:
    """The key where the original upload of ``job_id`` is stored."""
    return f"{UPLOADS_PREFIX}{job_id}/{safe_file_name(file_name)}"


def derived_key(job_id: str, name: str) -> str:
    """The key of a derived file (``preview.png``, ``thumbnail.png`` ...) of ``job_id``."""
    return f"{DERIVED_PREFIX}{job_id}/{name}"


def job_id_from_upload_key(key: str) -> str | None:
    """The job id an upload key belongs to, or None for keys outside ``uploads/{jobId}/``."""
    if not key.startswith(UPLOADS_PREFIX):
        return None
    parts = key[len(UPLOADS_PREFIX) :].split("/")
    if len(parts) != 2 or not is_job_id(parts[0]) or not parts[1]:
        return None
    return parts[0]


def decode_event_key(raw_key: str) -> str:
    """An S3 event record's key as stored (S3 URL-encodes keys in events, ``+`` for space)."""
    return unquote_plus(raw_key)
