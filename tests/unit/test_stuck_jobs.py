"""Jobs never stuck: a crashed worker's job is released at once and fails after repeated
crashes; a PENDING job whose upload never arrives ends EXPIRED; start-up removes partial
uploads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dicomlens import bootstrap
from dicomlens.adapters.local.files import LocalBlobStore
from dicomlens.adapters.local.signing import Signer
from dicomlens.adapters.local.sqlite_jobs import SqliteJobStore
from dicomlens.config import Settings
from dicomlens.domain.errors import ErrorCode
from dicomlens.domain.jobs import JobStatus
from dicomlens.handlers import create_upload, get_results
from dicomlens.local.apigw import LocalLambdaContext
from dicomlens.local.event_queue import EventQueue
from dicomlens.services.processing import UploadOutcome
from fake_world import JOB, FakeWorld
from fakes import FakeClock, load_event

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

GRACE_S = 120
FORM_S = 900


@pytest.fixture
def world_settings() -> dict[str, Any]:
    return {"upload_expiry_s": FORM_S, "upload_grace_s": GRACE_S}


def call(module: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = module.handler(event, LocalLambdaContext(function_name="test-function"))
    return response["statusCode"], json.loads(response["body"])


def granted(world: FakeWorld) -> str:
    """POST /uploads through the handler; the job's upload key."""
    status, body = call(create_upload, load_event("http_api_create_upload"))
    assert status == 201
    assert body["jobId"] == JOB
    job = world.jobs.get(JOB)
    assert job is not None
    return job.upload_key


def claimed(world: FakeWorld) -> None:
    key = granted(world)
    world.blobs.receive_upload(key, b"x" * 10)
    assert world.jobs.claim(JOB, now=world.clock.now(), lease_s=300) is not None


# ------------------------------------------------------------------------ crashed workers


def test_a_crashed_attempt_is_released_for_the_next_one_at_once(world: FakeWorld) -> None:
    # Given a job whose worker died while processing it (its 300 s lease still running)
    claimed(world)
    processor = world.services.processor
    # When the pool reports the crash
    report = processor.release_crashed(JOB, max_crashes=3)
    # Then the crash is counted and the next attempt claims the job at once
    assert report.outcome is UploadOutcome.RELEASED
    job = world.jobs.get(JOB)
    assert job is not None
    assert (job.status, job.crashes, job.lease_until) == (JobStatus.PROCESSING, 1, None)
    again = world.jobs.claim(JOB, now=world.clock.now(), lease_s=300)
    assert again is not None
    assert again.attempts == 2


def test_a_file_that_keeps_crashing_workers_fails_once_with_worker_crashed(
    world: FakeWorld,
) -> None:
    claimed(world)
    processor = world.services.processor
    outcomes = []
    for _ in range(3):
        outcomes.append(processor.release_crashed(JOB, max_crashes=3).outcome)
        world.jobs.claim(JOB, now=world.clock.now(), lease_s=300)
    assert outcomes == [UploadOutcome.RELEASED, UploadOutcome.RELEASED, UploadOutcome.FAILED]
    job = world.jobs.get(JOB)
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.code == "WORKER_CRASHED"
    assert job.crashes == 3
    assert job.file_name not in job.error.message
    # A late report of the same crash, or of another one, changes nothing.
    assert processor.release_crashed(JOB, max_crashes=3).outcome is UploadOutcome.SUPERSEDED
    assert world.jobs.get(JOB) == job


def test_a_crash_before_the_claim_leaves_the_job_to_be_delivered_again(
    world: FakeWorld,
) -> None:
    granted(world)
    report = world.services.processor.release_crashed(JOB, max_crashes=3)
    assert report.outcome is UploadOutcome.NOT_STARTED
    job = world.jobs.get(JOB)
    assert job is not None
    assert (job.status, job.crashes) == (JobStatus.PENDING, 0)


def test_a_finished_job_is_not_touched_by_a_crash_report(world: FakeWorld) -> None:
    claimed(world)
    processor = world.services.processor
    stopped = processor.fail_stuck(JOB, code=ErrorCode.DECODE_TIMEOUT, message="stopped")
    assert stopped.outcome is UploadOutcome.FAILED
    before = world.jobs.get(JOB)
    assert processor.release_crashed(JOB, max_crashes=1).outcome is UploadOutcome.SUPERSEDED
    assert world.jobs.get(JOB) == before


# ------------------------------------------------------------------------- expired uploads


def test_the_job_stores_when_its_upload_form_expires(world: FakeWorld) -> None:
    granted(world)
    job = world.jobs.get(JOB)
    assert job is not None
    assert job.upload_expires_at is not None
    assert (job.upload_expires_at - job.created_at).total_seconds() == pytest.approx(FORM_S, abs=1)


def test_a_pending_job_whose_upload_never_arrived_reads_as_expired(world: FakeWorld) -> None:
    # Given an upload form that was never used
    key = granted(world)
    # When the job is read before the form expired plus the margin, it is still PENDING
    world.clock.advance(FORM_S + GRACE_S - 5)
    status, body = call(get_results, load_event("http_api_get_job"))
    assert (status, body["status"]) == (200, "PENDING")
    # Then, after it, the job has ended EXPIRED (stored, not only shown)
    world.clock.advance(10)
    status, body = call(get_results, load_event("http_api_get_job"))
    assert (status, body["status"]) == (200, "EXPIRED")
    assert body["finishedAt"] is not None
    assert body["urls"]["original"] is None
    stored = world.jobs.get(JOB)
    assert stored is not None
    assert stored.status is JobStatus.EXPIRED

    # An upload that arrives after that is kept as it is and not processed
    world.blobs.receive_upload(key, b"late")
    report = world.services.processor.process_upload(key)
    assert report.outcome is UploadOutcome.NOT_CLAIMED
    assert world.jobs.get(JOB) == stored
    assert world.blobs.objects[key] == b"late"


def test_an_upload_that_arrived_but_waits_for_a_worker_does_not_expire(
    world: FakeWorld,
) -> None:
    key = granted(world)
    world.blobs.receive_upload(key, b"x" * 10)
    world.clock.advance(FORM_S + GRACE_S + 3600)
    _, body = call(get_results, load_event("http_api_get_job"))
    assert body["status"] == "PENDING"


def test_the_openapi_document_lists_the_expired_status(world: FakeWorld) -> None:
    status, document = call(get_results, load_event("http_api_openapi"))
    assert status == 200
    statuses = document["components"]["schemas"]["JobStatus"]["enum"]
    assert "EXPIRED" in statuses


# --------------------------------------------------------------------------- local start-up


def test_start_up_removes_partial_uploads_and_expires_abandoned_jobs(tmp_path: Path) -> None:
    from dicomlens.local.runtime import expire_abandoned, recover

    # Given a data directory a killed server left: a half-written upload, and two PENDING
    # jobs, one whose form expired long ago and one still open
    clock = FakeClock()
    store = LocalBlobStore(
        tmp_path / "blobs", signer=Signer(b"s" * 32), base_url="http://x", clock=clock
    )
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite3")
    queue = EventQueue(tmp_path / "q.sqlite3")
    (store.root / ".tmp" / "part-abc123").write_bytes(b"half an upload")
    settings = Settings(analyzers=(), upload_expiry_s=FORM_S, upload_grace_s=GRACE_S)
    services = bootstrap.build_services(settings, blobs=store, jobs=jobs, clock=clock)
    bootstrap.use_services(services)
    try:
        old = services.uploads.create_upload(file_name="a.dcm", content_type=None, size=3)
        clock.advance(FORM_S + GRACE_S + 1)
        fresh = services.uploads.create_upload(file_name="b.dcm", content_type=None, size=3)
        # When the server starts again
        report = recover(jobs=jobs, blobs=store, queue=queue)
        # Then the partial file is gone and only the abandoned job ended EXPIRED
        assert report.removed_partial_files == 1
        assert report.expired_jobs == 1
        assert list((store.root / ".tmp").iterdir()) == []
        assert store.root.joinpath(".tmp").is_dir()
        assert _status(jobs, old.job_id) is JobStatus.EXPIRED
        assert _status(jobs, fresh.job_id) is JobStatus.PENDING
        # And the periodic sweep ends the other one once its time has come
        clock.advance(FORM_S + GRACE_S + 1)
        assert expire_abandoned(jobs) == 1
        assert _status(jobs, fresh.job_id) is JobStatus.EXPIRED
    finally:
        bootstrap.use_services(None)


def _status(jobs: SqliteJobStore, job_id: str) -> JobStatus:
    job = jobs.get(job_id)
    assert job is not None
    return job.status
