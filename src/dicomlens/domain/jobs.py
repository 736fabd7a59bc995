"""The job state machine: PENDING -> PROCESSING -> COMPLETED | FAILED.

Transitions are pure functions: they take a :class:`Job` and return a new one, or raise
:class:`IllegalTransitionError`. Stores apply them with a conditional write so that two
workers cannot both claim a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from dicomlens.domain.errors import IllegalTransitionError


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})

_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.PROCESSING, JobStatus.FAILED}),
    # PROCESSING -> PROCESSING is a re-claim after the lease of a crashed worker expired.
    JobStatus.PROCESSING: frozenset({JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
}


@dataclass(frozen=True, kw_only=True)
class JobError:
    """Why a job failed: a stable code and a human message (no patient data)."""

    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Job:
    """One upload and its analysis."""

    job_id: str
    status: JobStatus
    file_name: str
    content_type: str
    size: int
    upload_key: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    lease_until: datetime | None = None
    error: JobError | None = None
    result: dict[str, Any] | None = None
    derived_keys: dict[str, str] = field(default_factory=dict)


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """Whether the state machine allows ``current -> target``."""
    return target in _ALLOWED[current]


def _check(job: Job, target: JobStatus) -> None:
    if not can_transition(job.status, target):
        raise IllegalTransitionError(f"job {job.job_id}: {job.status} -> {target} is not allowed")


def new_job(
    *, job_id: str, file_name: str, content_type: str, size: int, upload_key: str, now: datetime
) -> Job:
    """A fresh PENDING job for an upload that has been granted but not yet received."""
    return Job(
        job_id=job_id,
        status=JobStatus.PENDING,
        file_name=file_name,
        content_type=content_type,
        size=size,
        upload_key=upload_key,
        created_at=now,
        updated_at=now,
    )


def claim(job: Job, *, now: datetime, lease_until: datetime) -> Job:
    """PENDING (or PROCESSING with an expired lease) -> PROCESSING, counting the attempt.

    Raises :class:`IllegalTransitionError` if the job is finished or still leased.
    """
    _check(job, JobStatus.PROCESSING)
    if job.status is JobStatus.PROCESSING and job.lease_until is not None and job.lease_until > now:
        raise IllegalTransitionError(f"job {job.job_id} is leased until {job.lease_until}")
    return replace(
        job,
        status=JobStatus.PROCESSING,
        started_at=now,
        updated_at=now,
        attempts=job.attempts + 1,
        lease_until=lease_until,
    )


def complete(
    job: Job, *, result: dict[str, Any], derived_keys: dict[str, str], now: datetime
) -> Job:
    """PROCESSING -> COMPLETED with the analysis result and the keys of derived images."""
    _check(job, JobStatus.COMPLETED)
    return replace(
        job,
        status=JobStatus.COMPLETED,
        result=result,
        derived_keys=dict(derived_keys),
        finished_at=now,
        updated_at=now,
        lease_until=None,
        error=None,
    )


def fail(
    job: Job, *, code: str, message: str, now: datetime, result: dict[str, Any] | None = None
) -> Job:
    """PENDING or PROCESSING -> FAILED with a stable code and a human message."""
    _check(job, JobStatus.FAILED)
    return replace(
        job,
        status=JobStatus.FAILED,
        error=JobError(code=code, message=message),
        result=result,
        finished_at=now,
        updated_at=now,
        lease_until=None,
    )
