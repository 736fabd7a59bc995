"""The job state machine: PENDING -> PROCESSING -> COMPLETED | FAILED, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dicomlens.domain.errors import ErrorCode, IllegalTransitionError
from dicomlens.domain.jobs import (
    Job,
    JobStatus,
    claim,
    complete,
    fail,
    new_job,
    open_since,
    processing_overdue,
    release,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _pending() -> Job:
    return new_job(
        job_id="0" * 32,
        file_name="ct.dcm",
        content_type="application/dicom",
        size=10,
        upload_key="uploads/" + "0" * 32 + "/ct.dcm",
        now=T0,
    )


def _processing() -> Job:
    return claim(_pending(), now=T0, lease_until=T0 + timedelta(minutes=5))


def test_a_job_goes_from_pending_through_processing_to_completed() -> None:
    # Given a new job
    job = _pending()
    assert job.status is JobStatus.PENDING
    # When a worker claims it and finishes
    working = claim(job, now=T0 + timedelta(seconds=1), lease_until=T0 + timedelta(minutes=5))
    done = complete(
        working,
        result={"hasImage": True},
        derived_keys={"preview": "derived/x/preview.png"},
        now=T0 + timedelta(seconds=2),
    )
    # Then each step is recorded and the original is unchanged (transitions are pure)
    assert working.status is JobStatus.PROCESSING
    assert working.attempts == 1
    assert working.started_at == T0 + timedelta(seconds=1)
    assert done.status is JobStatus.COMPLETED
    assert done.result == {"hasImage": True}
    assert done.finished_at == T0 + timedelta(seconds=2)
    assert done.lease_until is None
    assert job.status is JobStatus.PENDING


@pytest.mark.parametrize("start", [_pending, _processing])
def test_a_pending_or_processing_job_can_fail_with_a_code(start: object) -> None:
    job = start()  # type: ignore[operator]
    failed = fail(job, code="INVALID_DICOM", message="the header cannot be parsed", now=T0)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.code == "INVALID_DICOM"


def _completed() -> Job:
    return complete(_processing(), result={}, derived_keys={}, now=T0)


def _failed() -> Job:
    return fail(_pending(), code="TOO_LARGE", message="too large", now=T0)


@pytest.mark.parametrize(
    ("start", "move"),
    [
        (_pending, lambda job: complete(job, result={}, derived_keys={}, now=T0)),
        (_completed, lambda job: claim(job, now=T0, lease_until=T0)),
        (_completed, lambda job: fail(job, code="X", message="x", now=T0)),
        (_completed, lambda job: complete(job, result={}, derived_keys={}, now=T0)),
        (_failed, lambda job: claim(job, now=T0, lease_until=T0)),
        (_failed, lambda job: complete(job, result={}, derived_keys={}, now=T0)),
    ],
    ids=[
        "pending-to-completed",
        "completed-to-processing",
        "completed-to-failed",
        "completed-to-completed",
        "failed-to-processing",
        "failed-to-completed",
    ],
)
def test_illegal_moves_are_rejected(start: object, move: object) -> None:
    # Given a job in some status; When an illegal move is attempted; Then it is refused
    job = start()  # type: ignore[operator]
    with pytest.raises(IllegalTransitionError) as caught:
        move(job)  # type: ignore[operator]
    assert caught.value.code == ErrorCode.ILLEGAL_TRANSITION


def test_a_job_still_leased_cannot_be_claimed_twice() -> None:
    # Given a job claimed with a lease until T0 + 5 min
    job = _processing()
    # When another worker tries to claim it before the lease ends
    with pytest.raises(IllegalTransitionError):
        claim(job, now=T0 + timedelta(minutes=1), lease_until=T0 + timedelta(minutes=6))
    # Then only after the lease expired may it be re-claimed, counting a second attempt
    again = claim(job, now=T0 + timedelta(minutes=6), lease_until=T0 + timedelta(minutes=11))
    assert again.attempts == 2


def test_open_since_is_the_form_expiry_or_the_lease_end_and_none_once_finished() -> None:
    form_expiry = T0 + timedelta(minutes=15)
    pending = new_job(
        job_id="0" * 32,
        file_name="ct.dcm",
        content_type="application/dicom",
        size=10,
        upload_key="uploads/" + "0" * 32 + "/ct.dcm",
        now=T0,
        upload_expires_at=form_expiry,
    )
    assert open_since(pending) == form_expiry
    assert open_since(_pending()) == T0  # stored without its form's expiry
    assert open_since(_processing()) == T0 + timedelta(minutes=5)
    released = release(_processing(), now=T0 + timedelta(minutes=1))
    assert released.lease_until is None
    assert open_since(released) == T0 + timedelta(minutes=1)
    assert open_since(fail(_processing(), code="X", message="m", now=T0)) is None


def test_a_processing_job_is_overdue_only_past_its_lease_plus_the_margin() -> None:
    job = _processing()  # leased until T0 + 5 min
    lease_end = T0 + timedelta(minutes=5)
    assert not processing_overdue(job, now=lease_end + timedelta(seconds=59), margin_s=60)
    assert processing_overdue(job, now=lease_end + timedelta(seconds=60), margin_s=60)
    assert not processing_overdue(_pending(), now=T0 + timedelta(days=9), margin_s=60)


def test_release_keeps_the_job_processing_without_counting_a_crash() -> None:
    released = release(_processing(), now=T0 + timedelta(seconds=3))
    assert (released.status, released.crashes, released.attempts) == (JobStatus.PROCESSING, 0, 1)
    # the next attempt can claim it at once
    again = claim(released, now=T0 + timedelta(seconds=4), lease_until=T0 + timedelta(minutes=9))
    assert again.attempts == 2
    with pytest.raises(IllegalTransitionError):
        release(_pending(), now=T0)
