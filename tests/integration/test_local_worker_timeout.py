"""The local worker pool's hard per-job time limit, and worker crashes that spare the pool
and release their job at once.

The pool runs here with a processor double: the real processing service, with an analysis
step that hangs (``hang*`` files), kills its process (``crash*`` files), exits it with
sys.exit() (``exit*`` files) or takes a while and says which process runs it (``slow*``
files, pid files in ``$SLOW_JOB_PID_DIR``), and otherwise runs the real pipeline. The double
lives in this module; the spawned workers import it by name, as they import the real handler
from the template.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_file

from dicomlens import bootstrap
from dicomlens.analysis.pipeline import Analysis, AnalysisOptions, analyze_file
from dicomlens.config import Settings
from dicomlens.domain.jobs import TERMINAL, Job, JobStatus
from dicomlens.domain.keys import decode_event_key
from dicomlens.local.event_queue import EventQueue
from dicomlens.local.s3_events import object_created_event
from dicomlens.local.workers import MAX_DELIVERIES, Consumer, WorkerPool, queue_path
from dicomlens.services.processing import ImageProcessor

CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
DECODE_TIMEOUT_S = 0.5
SLOW_S = 2.0

_processor: ImageProcessor | None = None


def _analyze_or_misbehave(path: Path, options: AnalysisOptions) -> Analysis:
    if path.name.startswith("hang"):
        time.sleep(3600)  # stands in for a C decoder that never returns
    if path.name.startswith("crash"):
        os._exit(3)  # stands in for a codec that takes its process down
    if path.name.startswith("exit"):
        # a library that calls sys.exit(): the worker's process exits cleanly, closing its
        # SQLite connections on the way out
        sys.exit(3)
    if path.name.startswith("slow"):
        pid_dir = Path(os.environ["SLOW_JOB_PID_DIR"])
        (pid_dir / f"{os.getpid()}.pid").write_text(path.name)
        time.sleep(SLOW_S)
    return analyze_file(path, options)


def processor_double(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The processImage handler's work, with :func:`_analyze_or_misbehave` as the analysis."""
    del context
    global _processor  # noqa: PLW0603 - one processor per worker process, like the handler's
    services = bootstrap.get_services()
    if _processor is None:
        _processor = ImageProcessor(
            blobs=services.blobs,
            jobs=services.jobs,
            clock=services.clock,
            options=bootstrap.analysis_options(services.settings),
            lease_s=services.settings.lease_timeout_s,
            analyze=_analyze_or_misbehave,
        )
    outcomes = []
    for record in event["Records"]:
        key = decode_event_key(record["s3"]["object"]["key"])
        outcomes.append(str(_processor.process_upload(key).outcome))
    return {"records": outcomes}


class Stack:
    """Services, the event queue and a started pool over one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = Settings(
            data_dir=data_dir,
            decode_timeout_s=DECODE_TIMEOUT_S,
            analyzers=(),
            workers=2,
            worker_kind="process",
        )
        self.services = bootstrap.build_services(self.settings)
        bootstrap.use_services(self.services)
        self.queue = EventQueue(queue_path(self.settings))
        self.pool = WorkerPool(
            settings=self.settings,
            handler_name=f"{__name__}.processor_double",
            size=2,
            kind="process",
        )

    def submit(self, name: str, data: bytes = CT) -> str:
        """Open a job, store its upload and queue its ObjectCreated event, as the server does."""
        grant = self.services.uploads.create_upload(
            file_name=name, content_type="application/dicom", size=len(data)
        )
        job = self.job(grant.job_id)
        self.services.blobs.put_bytes(job.upload_key, data, content_type="application/dicom")
        event = object_created_event(key=job.upload_key, size=len(data), etag="")
        assert self.queue.put(job.upload_key, event)
        self.pool.notify()
        return grant.job_id

    def job(self, job_id: str) -> Job:
        found = self.services.jobs.get(job_id)
        assert found is not None
        return found

    def wait_finished(self, job_ids: list[str], timeout: float = 60) -> dict[str, Job]:
        deadline = time.monotonic() + timeout
        while True:
            jobs = {job_id: self.job(job_id) for job_id in job_ids}
            if all(job.status in TERMINAL for job in jobs.values()):
                return jobs
            assert time.monotonic() < deadline, {j: str(job.status) for j, job in jobs.items()}
            time.sleep(0.05)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    built = Stack(tmp_path / "data")
    built.pool.start()
    try:
        yield built
    finally:
        built.pool.stop(grace_s=0)
        bootstrap.use_services(None)


def test_a_hung_job_fails_with_decode_timeout_and_the_pool_keeps_serving(stack: Stack) -> None:
    limit = stack.pool.job_limit_s
    assert limit == pytest.approx(DECODE_TIMEOUT_S + 5.0)
    # Warm both workers, so that the timing below is about the hang, not the start-up.
    stack.wait_finished([stack.submit(f"warm{i}.dcm") for i in range(2)])

    started = time.monotonic()
    hung = stack.submit("hang.dcm")
    others = [stack.submit(f"ct{i}.dcm") for i in range(6)]
    jobs = stack.wait_finished([hung, *others], timeout=limit + 20)
    took = time.monotonic() - started

    failed = jobs[hung]
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.code == "DECODE_TIMEOUT"
    assert f"over {limit:g} s" in failed.error.message
    assert failed.attempts == 1
    assert took < limit + 5, f"the hung job took {took:.1f} s to fail"
    assert {str(jobs[j].status) for j in others} == {"COMPLETED"}

    # The hung job's event was acknowledged, not left to be retried.
    deadline = time.monotonic() + 5
    while len(stack.queue) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(stack.queue) == 0

    # The replacement worker and the other one still serve, with both workers busy.
    after = [stack.submit(f"after{i}.dcm") for i in range(4)]
    done = stack.wait_finished(after)
    assert {str(job.status) for job in done.values()} == {"COMPLETED"}
    assert stack.job(hung).status is JobStatus.FAILED  # nothing finished it again


@pytest.mark.parametrize("name", ["crash.dcm", "exit.dcm"])
def test_a_file_that_always_crashes_fails_with_worker_crashed_within_seconds(
    stack: Stack, name: str
) -> None:
    # Warm both workers, so that the timing below is about the crashes, not the start-up.
    stack.wait_finished([stack.submit(f"warm{i}.dcm") for i in range(2)])
    started = time.monotonic()
    crashed = stack.submit(name)
    others = [stack.submit(f"ct{i}.dcm") for i in range(4)]
    jobs = stack.wait_finished([crashed, *others], timeout=60)
    took = time.monotonic() - started
    assert {str(jobs[j].status) for j in others} == {"COMPLETED"}

    # Each crash releases the job at once (no 300 s lease to wait out); the third ends it.
    failed = jobs[crashed]
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.code == "WORKER_CRASHED"
    assert name not in failed.error.message
    assert (failed.attempts, failed.crashes) == (3, 3)
    assert took < 30, f"the crashing job took {took:.1f} s to fail"
    deadline = time.monotonic() + 5
    while len(stack.queue) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(stack.queue) == 0

    # Meanwhile the pool replaced the workers and keeps serving.
    after = [stack.submit(f"after{i}.dcm") for i in range(4)]
    done = stack.wait_finished(after)
    assert {str(job.status) for job in done.values()} == {"COMPLETED"}
    assert stack.job(crashed) == failed  # nothing finished it again


def test_a_killed_worker_s_job_is_retried_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker busy with a job
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    monkeypatch.setenv("SLOW_JOB_PID_DIR", str(pid_dir))
    built = Stack(tmp_path / "data")
    built.pool.start()
    try:
        job_id = built.submit("slow.dcm")
        first = _wait_for_pid_file(pid_dir, set())
        # When its process is killed (an out-of-memory kill, say)
        killed_at = time.monotonic()
        os.kill(first, signal.SIGKILL)
        # Then another attempt starts at once, not when the 300 s lease ends, and completes
        second = _wait_for_pid_file(pid_dir, {first})
        assert time.monotonic() - killed_at < 10
        job = built.wait_finished([job_id], timeout=30)[job_id]
        assert job.status is JobStatus.COMPLETED
        assert (job.attempts, job.crashes) == (2, 1)
        assert second != first
    finally:
        built.pool.stop(grace_s=0)
        bootstrap.use_services(None)


def _wait_for_pid_file(pid_dir: Path, seen: set[int], timeout: float = 30) -> int:
    """The pid of a worker that began a ``slow*`` job, other than those in ``seen``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = {int(p.stem) for p in pid_dir.glob("*.pid")} - seen
        if fresh:
            return fresh.pop()
        time.sleep(0.02)
    raise AssertionError("no worker began the slow job")


def test_an_event_that_keeps_killing_workers_is_given_up(tmp_path: Path) -> None:
    # Given an upload whose event has been delivered more often than MAX_DELIVERIES
    built = Stack(tmp_path / "data")
    try:
        job_id = built.submit("crash.dcm")
        delivery = None
        for _ in range(MAX_DELIVERIES + 1):
            delivery = built.queue.lease(lease_s=0)
        assert delivery is not None and delivery.deliveries > MAX_DELIVERIES
        consumer = Consumer(
            settings=built.settings,
            handler_name=f"{__name__}.processor_double",
            waker=threading.Semaphore(0),
            stop=threading.Event(),
        )
        # When a worker receives it once more
        consumer.deliver(delivery)
        # Then the processor failed the job (INTERNAL) without running it, and the event is gone
        job = built.job(job_id)
        assert job.status is JobStatus.FAILED
        assert job.error is not None
        assert (job.error.code, job.error.message) == (
            "INTERNAL",
            "processing this file crashed repeatedly",
        )
        assert len(built.queue) == 0
    finally:
        bootstrap.use_services(None)


def test_a_thread_worker_outlives_a_failure_outside_the_handler(tmp_path: Path) -> None:
    # Given a thread worker (no monitor replaces it) and a queued upload
    built = Stack(tmp_path / "data")
    try:
        job_id = built.submit("ct.dcm")
        stop = threading.Event()
        slot = [0.0] * 4
        consumer = Consumer(
            settings=built.settings,
            handler_name=f"{__name__}.processor_double",
            waker=threading.Semaphore(0),
            stop=stop,
            slot=slot,
        )
        leased: list[int] = []

        def failing_deliver(delivery: Any) -> None:
            leased.append(delivery.event_id)
            stop.set()
            raise RuntimeError("the job store went away")

        consumer.deliver = failing_deliver  # type: ignore[method-assign]
        # When its event handling fails outside the handler
        consumer.run()
        # Then the worker's loop went on (it returned because it was stopped, not raised),
        # it holds no event, and the event is visible again later, not leased for 300 s
        assert len(leased) == 1
        assert slot[0] == 0.0
        assert built.job(job_id).status is JobStatus.PENDING
        wait = built.queue.next_visible_in()
        assert wait is not None
        assert 0 < wait <= 2.0
    finally:
        bootstrap.use_services(None)
