"""The JobStore contract: conditional transitions, exactly-once completion, round trips."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from dicomlens.domain import jobs as rules
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.jobs import Job, JobStatus
from dicomlens.ports import JobStore

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
JOB_ID = "0123456789abcdef0123456789abcdef"


def pending(job_id: str = JOB_ID) -> Job:
    return rules.new_job(
        job_id=job_id,
        file_name="Scan ü 1.dcm",
        content_type="application/dicom",
        size=1234,
        upload_key=f"uploads/{job_id}/Scan_u_1.dcm",
        now=T0,
    )


def test_create_then_get_round_trips(job_store: JobStore) -> None:
    job_store.create(pending())
    assert job_store.get(JOB_ID) == pending()
    assert job_store.get("f" * 32) is None


def test_create_twice_conflicts(job_store: JobStore) -> None:
    job_store.create(pending())
    with pytest.raises(DicomlensError) as caught:
        job_store.create(pending())
    assert caught.value.code is ErrorCode.CONFLICT


def test_claim_is_granted_once_until_the_lease_ends(job_store: JobStore) -> None:
    job_store.create(pending())
    first = job_store.claim(JOB_ID, now=T0, lease_s=60)
    assert first is not None
    assert first.status is JobStatus.PROCESSING
    assert first.attempts == 1
    assert job_store.claim(JOB_ID, now=T0 + timedelta(seconds=59), lease_s=60) is None
    again = job_store.claim(JOB_ID, now=T0 + timedelta(seconds=61), lease_s=60)
    assert again is not None
    assert again.attempts == 2


def test_only_the_current_attempt_can_finish(job_store: JobStore) -> None:
    job_store.create(pending())
    stale = job_store.claim(JOB_ID, now=T0, lease_s=1)
    current = job_store.claim(JOB_ID, now=T0 + timedelta(seconds=2), lease_s=60)
    assert stale is not None
    assert current is not None
    late = rules.complete(stale, result={"a": 1}, derived_keys={}, now=T0)
    assert not job_store.finish(late)
    done = rules.complete(
        current,
        result={"kind": "dicom", "labels": [{"name": "CT Scan"}]},
        derived_keys={"preview.png": f"derived/{JOB_ID}/preview.png"},
        now=T0 + timedelta(seconds=3),
    )
    assert job_store.finish(done)
    stored = job_store.get(JOB_ID)
    assert stored is not None
    assert stored.status is JobStatus.COMPLETED
    assert stored.result == done.result
    assert stored.derived_keys == done.derived_keys
    assert stored.finished_at == done.finished_at
    assert not job_store.finish(done), "a job is completed once"
    assert job_store.claim(JOB_ID, now=T0 + timedelta(days=1), lease_s=60) is None


def test_failure_keeps_code_and_message(job_store: JobStore) -> None:
    job_store.create(pending())
    claimed = job_store.claim(JOB_ID, now=T0, lease_s=60)
    assert claimed is not None
    failed = rules.fail(claimed, code="INVALID_DICOM", message="not a DICOM file", now=T0)
    assert job_store.finish(failed)
    stored = job_store.get(JOB_ID)
    assert stored is not None
    assert stored.error == failed.error


def test_concurrent_claims_have_one_winner(job_store: JobStore) -> None:
    job_store.create(pending())
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda _: job_store.claim(JOB_ID, now=T0, lease_s=60), range(16)))
    assert sum(claim is not None for claim in claims) == 1


def test_a_released_attempt_keeps_its_crash_count_and_is_claimable_at_once(
    job_store: JobStore,
) -> None:
    # Given a job whose worker died while processing it
    job_store.create(pending())
    claimed = job_store.claim(JOB_ID, now=T0, lease_s=300)
    assert claimed is not None
    released = rules.release_crashed(claimed, now=T0 + timedelta(seconds=1))
    # When the crash is recorded, the job is stored with it and its lease ended
    assert job_store.release(released)
    stored = job_store.get(JOB_ID)
    assert stored == released
    assert stored is not None and stored.crashes == 1 and stored.lease_until is None
    # Then the next attempt claims it at once (long before the 300 s lease would have ended)
    again = job_store.claim(JOB_ID, now=T0 + timedelta(seconds=2), lease_s=300)
    assert again is not None
    assert (again.attempts, again.crashes) == (2, 1)


def test_a_release_needs_the_same_attempt_still_processing(job_store: JobStore) -> None:
    job_store.create(pending())
    stale = job_store.claim(JOB_ID, now=T0, lease_s=1)
    current = job_store.claim(JOB_ID, now=T0 + timedelta(seconds=2), lease_s=60)
    assert stale is not None and current is not None
    assert not job_store.release(rules.release_crashed(stale, now=T0))
    done = rules.fail(current, code="WORKER_CRASHED", message="stopped", now=T0)
    assert job_store.finish(done)
    assert not job_store.release(rules.release_crashed(current, now=T0))
    assert job_store.get(JOB_ID) == done


def test_crashes_and_upload_expiry_round_trip(job_store: JobStore) -> None:
    job = rules.new_job(
        job_id=JOB_ID,
        file_name="a.dcm",
        content_type="application/dicom",
        size=1,
        upload_key=f"uploads/{JOB_ID}/a.dcm",
        now=T0,
        upload_expires_at=T0 + timedelta(seconds=900),
    )
    job_store.create(job)
    assert job_store.get(JOB_ID) == job


def test_expire_ends_a_pending_job_once(job_store: JobStore) -> None:
    job_store.create(pending())
    expired = rules.expire(pending(), now=T0 + timedelta(hours=1))
    assert job_store.expire(expired)
    stored = job_store.get(JOB_ID)
    assert stored == expired
    assert stored is not None and stored.status is JobStatus.EXPIRED
    assert not job_store.expire(expired), "a job expires once"
    # An upload arriving afterwards finds the job ended: nothing claims it.
    assert job_store.claim(JOB_ID, now=T0 + timedelta(hours=2), lease_s=60) is None


def test_expire_loses_to_a_claim(job_store: JobStore) -> None:
    job_store.create(pending())
    claimed = job_store.claim(JOB_ID, now=T0, lease_s=60)
    assert claimed is not None
    assert not job_store.expire(rules.expire(pending(), now=T0))
    assert job_store.get(JOB_ID) == claimed
