"""The stored form of a job: one camelCase record shared by every job store.

SQLite keeps it as JSON, DynamoDB as an item (after its own number and TTL handling); both
read it back through :func:`job_from_record`, so the two stores cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.jobs import Job, JobError, JobStatus


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def job_to_record(job: Job) -> dict[str, Any]:
    """The job as plain JSON-compatible values (absent optional values are None)."""
    return {
        "jobId": job.job_id,
        "status": str(job.status),
        "fileName": job.file_name,
        "contentType": job.content_type,
        "size": job.size,
        "uploadKey": job.upload_key,
        "createdAt": _iso(job.created_at),
        "updatedAt": _iso(job.updated_at),
        "startedAt": _iso(job.started_at),
        "finishedAt": _iso(job.finished_at),
        "attempts": job.attempts,
        "crashes": job.crashes,
        "leaseUntil": _iso(job.lease_until),
        "uploadExpiresAt": _iso(job.upload_expires_at),
        "error": None
        if job.error is None
        else {"code": job.error.code, "message": job.error.message},
        "result": job.result,
        "derivedKeys": dict(job.derived_keys),
        "uploadVersion": job.upload_version,
    }


def job_from_record(record: dict[str, Any]) -> Job:
    """The job a record written by :func:`job_to_record` describes (missing optional keys
    read as None)."""
    error = record.get("error")
    created = _time(record["createdAt"])
    updated = _time(record["updatedAt"])
    if created is None or updated is None:
        raise DicomlensError(ErrorCode.INTERNAL, "a stored job lacks its timestamps")
    return Job(
        job_id=str(record["jobId"]),
        status=JobStatus(record["status"]),
        file_name=str(record["fileName"]),
        content_type=str(record["contentType"]),
        size=int(record["size"]),
        upload_key=str(record["uploadKey"]),
        created_at=created,
        updated_at=updated,
        started_at=_time(record.get("startedAt")),
        finished_at=_time(record.get("finishedAt")),
        attempts=int(record.get("attempts", 0)),
        crashes=int(record.get("crashes", 0)),
        lease_until=_time(record.get("leaseUntil")),
        upload_expires_at=_time(record.get("uploadExpiresAt")),
        error=None
        if error is None
        else JobError(code=str(error["code"]), message=str(error["message"])),
        result=record.get("result"),
        derived_keys={str(k): str(v) for k, v in (record.get("derivedKeys") or {}).items()},
        upload_version=None
        if record.get("uploadVersion") is None
        else str(record["uploadVersion"]),
    )
