"""The job state machine: PENDING -> PROCESSING -> COMPLETED | FAILED, or PENDING -> EXPIRED.

Transitions are pure functions: they take a :class:`Job` and return a new one, or raise
:class:`IllegalTransitionError`. Stores apply them with a conditional write so that two
workers cannot both claim a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from dicomlens.domain.errors import IllegalTransitionError


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"  # the upload never arrived before its form (plus a margin) expired


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.EXPIRED})
MAX_JOB_WAIT_S = 20.0
"""The longest ``GET /jobs/{jobId}?wait=`` a server holds an answer for the job to end."""

_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.PROCESSING, JobStatus.FAILED, JobStatus.EXPIRED}),
    # PROCESSING -> PROCESSING is a re-claim after the lease of a crashed worker expired or
    # was released.
    JobStatus.PROCESSING: frozenset({JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.EXPIRED: frozenset(),
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
    crashes: int = 0  # attempts whose worker process died
    lease_until: datetime | None = None
    # When the upload form expires; None for jobs stored before it was recorded.
    upload_expires_at: datetime | None = None
    error: JobError | None = None
    result: dict[str, Any] | None = None
    derived_keys: dict[str, str] = field(default_factory=dict)
    # The version of the upload that was analysed (S3 versionId from the event); None where
    # the store keeps no versions. De-identification reads this version, not a later re-post.
    upload_version: str | None = None


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """Whether the state machine allows ``current -> target``."""
    return target in _ALLOWED[current]


def _check(job: Job, target: JobStatus) -> None:
    if not can_transition(job.status, target):
        raise IllegalTransitionError(f"job {job.job_id}: {job.status} -> {target} is not allowed")


def new_job(
    *,
    job_id: str,
    file_name: str,
    content_type: str,
    size: int,
    upload_key: str,
    now: datetime,
    upload_expires_at: datetime | None = None,
) -> Job:
    """A fresh PENDING job for an upload that has been granted but not yet received, whose
    form expires at ``upload_expires_at``."""
    return Job(
        job_id=job_id,
        status=JobStatus.PENDING,
        file_name=file_name,
        content_type=content_type,
        size=size,
        upload_key=upload_key,
        created_at=now,
        updated_at=now,
        upload_expires_at=upload_expires_at,
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


def release_crashed(job: Job, *, now: datetime) -> Job:
    """A PROCESSING job whose worker died: still PROCESSING, one more crash counted, its
    lease ended so the next attempt can claim it at once.

    Raises :class:`IllegalTransitionError` if the job is not PROCESSING.
    """
    if job.status is not JobStatus.PROCESSING:
        raise IllegalTransitionError(f"job {job.job_id}: {job.status} is not being processed")
    return replace(job, crashes=job.crashes + 1, lease_until=None, updated_at=now)


def release(job: Job, *, now: datetime) -> Job:
    """A PROCESSING job whose attempt stopped on a transient error (throttling, a service
    unavailable): still PROCESSING, its lease ended so the next delivery claims it at once,
    no crash counted.

    Raises :class:`IllegalTransitionError` if the job is not PROCESSING.
    """
    if job.status is not JobStatus.PROCESSING:
        raise IllegalTransitionError(f"job {job.job_id}: {job.status} is not being processed")
    return replace(job, lease_until=None, updated_at=now)


def open_since(job: Job) -> datetime | None:
    """From when a job that has not ended counts as overdue (before any margin), or None
    for a finished job.

    PENDING: when its upload form expires (its creation for jobs stored without it).
    PROCESSING: when its lease ends (its last update once the lease was released). The
    sweeper's index sorts on this moment (see :func:`upload_overdue`, :func:`processing_overdue`).
    """
    if job.status is JobStatus.PENDING:
        return job.upload_expires_at or job.created_at
    if job.status is JobStatus.PROCESSING:
        return job.lease_until or job.updated_at
    return None


def processing_overdue(job: Job, *, now: datetime, margin_s: float) -> bool:
    """Whether ``job`` is PROCESSING and its lease ended more than ``margin_s`` ago: no
    attempt holds it and no retry claimed it within the margin, so it is stuck."""
    if job.status is not JobStatus.PROCESSING:
        return False
    since = open_since(job)
    return since is not None and now >= since + timedelta(seconds=margin_s)


def upload_overdue(job: Job, *, now: datetime, margin_s: float) -> bool:
    """Whether ``job`` is PENDING and its upload form expired more than ``margin_s`` ago.

    A job stored without its form's expiry counts from its creation.
    """
    if job.status is not JobStatus.PENDING:
        return False
    since = open_since(job)
    return since is not None and now >= since + timedelta(seconds=margin_s)


def expire(job: Job, *, now: datetime) -> Job:
    """PENDING -> EXPIRED: the upload never arrived. Terminal, without an error."""
    _check(job, JobStatus.EXPIRED)
    return replace(job, status=JobStatus.EXPIRED, finished_at=now, updated_at=now, lease_until=None)
