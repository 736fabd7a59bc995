"""``GET /jobs/{jobId}?wait=s`` on the local server: the request is held until the job ends,
the wait runs out, or the client goes, and never longer; bad waits are not waited for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dicomlens.adapters.local.sqlite_jobs import SqliteJobStore
from dicomlens.domain.jobs import MAX_JOB_WAIT_S, JobStatus, new_job
from dicomlens.local.job_wait import MAX_INTERVAL_S, JobWaiter, requested_wait


class ScriptedJobs:
    """A job whose status changes after a number of looks (stands in for the SQLite store)."""

    def __init__(self, statuses: list[JobStatus | None]) -> None:
        self.statuses = statuses
        self.looks = 0
        self.looked_at: set[str] = set()

    def status(self, job_id: str) -> JobStatus | None:
        self.looked_at.add(job_id)
        self.looks += 1
        return self.statuses[min(self.looks, len(self.statuses)) - 1]


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # lets other waiters run, as a real sleep does


def waiter(jobs: ScriptedJobs, clock: VirtualTime, **kwargs: int) -> JobWaiter:
    return JobWaiter(jobs, monotonic=clock.monotonic, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "seconds"),
    [
        ("wait=2.5", 2.5),
        ("wait=0", 0.0),
        (f"wait={MAX_JOB_WAIT_S}", MAX_JOB_WAIT_S),
        ("", 0.0),
        ("other=1", 0.0),
        ("wait=-1", 0.0),
        (f"wait={MAX_JOB_WAIT_S + 1}", 0.0),
        ("wait=nan", 0.0),
        ("wait=inf", 0.0),
        ("wait=abc", 0.0),
        ("wait=", 0.0),
        ("wait=1&wait=2", 0.0),
    ],
)
def test_only_a_single_wait_within_the_limit_is_taken(query: str, seconds: float) -> None:
    assert requested_wait(query) == seconds


def test_the_wait_ends_as_soon_as_the_job_has_ended() -> None:
    jobs = ScriptedJobs([JobStatus.PROCESSING] * 5 + [JobStatus.COMPLETED])
    clock = VirtualTime()
    asyncio.run(waiter(jobs, clock).until_ended("j", 10.0))
    assert jobs.looks == 6
    assert clock.now < 0.5  # looks every 10 ms at first, a little less often later
    assert clock.sleeps[0] == pytest.approx(0.01)
    assert clock.sleeps == sorted(clock.sleeps)


@pytest.mark.parametrize("ended", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.EXPIRED, None])
def test_an_ended_or_unknown_job_is_not_waited_for(ended: JobStatus | None) -> None:
    jobs = ScriptedJobs([ended])
    clock = VirtualTime()
    asyncio.run(waiter(jobs, clock).until_ended("j", 10.0))
    assert (jobs.looks, clock.now) == (1, 0.0)


def test_the_wait_never_outlasts_what_was_asked() -> None:
    jobs = ScriptedJobs([JobStatus.PENDING])
    clock = VirtualTime()
    asyncio.run(waiter(jobs, clock).until_ended("j", 3.0))
    assert clock.now == pytest.approx(3.0)
    assert max(clock.sleeps) <= MAX_INTERVAL_S
    assert jobs.looks <= 3.0 / MAX_INTERVAL_S + 10  # the looks thin out: no busy polling


def test_a_client_that_left_is_not_waited_for() -> None:
    jobs = ScriptedJobs([JobStatus.PROCESSING])
    clock = VirtualTime()

    async def gone() -> bool:
        return True

    asyncio.run(waiter(jobs, clock).until_ended("j", 10.0, disconnected=gone))
    assert jobs.looks == 1
    assert clock.now < 0.1


def test_no_wait_and_too_many_waiters_are_answered_at_once() -> None:
    jobs = ScriptedJobs([JobStatus.PROCESSING])
    clock = VirtualTime()
    asyncio.run(waiter(jobs, clock).until_ended("j", 0.0))
    assert jobs.looks == 0

    busy = waiter(jobs, clock, max_waiters=2)

    async def three_at_once() -> None:
        await asyncio.gather(*(busy.until_ended(f"j{n}", 1.0) for n in range(3)))

    asyncio.run(three_at_once())
    assert busy.waiting == 0
    assert jobs.looked_at == {"j0", "j1"}  # the third was answered without a look


def test_the_sqlite_store_reads_a_status_without_the_job(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    job = new_job(
        job_id="0123456789abcdef0123456789abcdef",
        file_name="scan.dcm",
        content_type="application/dicom",
        size=10,
        upload_key="uploads/0123456789abcdef0123456789abcdef/scan.dcm",
        now=datetime(2026, 12, 7, tzinfo=UTC),
    )
    store.create(job)
    assert store.status(job.job_id) is JobStatus.PENDING
    assert store.status("0" * 32) is None
