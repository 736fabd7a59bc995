"""ProcessSupervisor: replacement of dead and overrunning workers, and the back-off of a slot
whose workers keep dying soon after they start (a broken install must not become a tight
restart loop)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest

from dicomlens import process_supervision
from dicomlens.process_supervision import (
    ProcessSupervisor,
    ReplacedBecause,
    Replacement,
    RestartBackoff,
    RunningJob,
)


class FakeProcess:
    """What the supervisor asks of a process: alive or not, kill, join."""

    def __init__(self) -> None:
        self.alive = True

    def is_alive(self) -> bool:
        return self.alive

    def kill(self) -> None:
        self.alive = False

    def join(self, timeout: float | None = None) -> None:
        del timeout


@dataclass(kw_only=True)
class FakeWorker:
    process: Any = field(default_factory=FakeProcess)
    job: RunningJob | None = None
    closed: int = 0

    def running_job(self) -> RunningJob | None:
        return self.job

    def close(self) -> None:
        self.closed += 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(process_supervision, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


BACKOFF = RestartBackoff(quick_s=10.0, first_delay_s=1.0, max_delay_s=8.0)


def pool(backoff: RestartBackoff | None = BACKOFF) -> tuple[ProcessSupervisor[Any], list[Any]]:
    spawned: list[FakeWorker] = []

    def spawn() -> FakeWorker:
        spawned.append(FakeWorker())
        return spawned[-1]

    return ProcessSupervisor(spawn, size=1, backoff=backoff), spawned


def die(worker: Any) -> None:
    cast(FakeProcess, worker.process).alive = False


def test_a_slot_whose_workers_die_at_start_restarts_later_and_later(clock: Clock) -> None:
    supervisor, spawned = pool()
    restarts: list[Replacement[Any]] = []
    # Every worker dies 0.1 s after it starts, holding no job; sweep every 0.25 s for 60 s
    for _ in range(240):
        clock.now += 0.25
        current = supervisor.workers[0]
        if current.process.is_alive():
            die(current)
        restarts += supervisor.sweep()
    # The first quick death restarts at once; then 1, 2, 4, 8, 8, ... s (capped)
    delays = [replacement.restart_in_s for replacement in restarts]
    assert delays[:6] == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert [replacement.quick_deaths for replacement in restarts[:4]] == [1, 2, 3, 4]
    # About 10 starts in 60 s instead of 240 (one per sweep without a back-off)
    assert 8 <= len(spawned) <= 12
    assert all(replacement.because is ReplacedBecause.DIED for replacement in restarts)
    # Each dead worker was closed once, when found dead, never again at stop
    supervisor.stop(grace_s=0)
    assert all(worker.closed == 1 for worker in spawned)


def test_a_waiting_slot_starts_its_worker_only_once_due(clock: Clock) -> None:
    supervisor, spawned = pool()
    for expected_delay in (0.0, 1.0):
        die(supervisor.workers[0])
        (replacement,) = supervisor.sweep()
        assert replacement.restart_in_s == expected_delay
    assert supervisor.waiting() == 1
    clock.now += 0.9
    assert supervisor.sweep() == []  # not due: no start, no new report
    assert len(spawned) == 2
    clock.now += 0.2
    assert supervisor.sweep() == []  # due: started quietly (reported when it was found dead)
    assert len(spawned) == 3
    assert supervisor.waiting() == 0
    assert supervisor.workers[0] is spawned[-1]


def test_a_worker_that_stays_up_clears_the_count(clock: Clock) -> None:
    supervisor, _ = pool()
    for _ in range(3):
        die(supervisor.workers[0])
        supervisor.sweep()
        clock.now += 5  # past any back-off so far
        supervisor.sweep()
    # Then a worker stays up longer than quick_s
    clock.now += 11
    supervisor.sweep()
    # Its death (or the next quick one) restarts at once again
    die(supervisor.workers[0])
    (replacement,) = supervisor.sweep()
    assert (replacement.quick_deaths, replacement.restart_in_s) == (0, 0.0)
    die(supervisor.workers[0])
    (replacement,) = supervisor.sweep()
    assert (replacement.quick_deaths, replacement.restart_in_s) == (1, 0.0)


def test_a_worker_dying_with_a_job_is_replaced_at_once(clock: Clock) -> None:
    # A file that crashes the decoder kills worker after worker, each within a second of its
    # start: the job's crash count deals with it; the slot is not put on hold
    supervisor, spawned = pool()
    for _ in range(5):
        worker = supervisor.workers[0]
        worker.job = RunningJob(key=7, started=clock.now, limit_s=60)
        clock.now += 0.5
        die(worker)
        (replacement,) = supervisor.sweep()
        assert replacement.job is not None
        assert (replacement.quick_deaths, replacement.restart_in_s) == (0, 0.0)
    assert len(spawned) == 6


def test_an_overrunning_worker_is_killed_and_replaced_at_once(clock: Clock) -> None:
    supervisor, spawned = pool()
    worker = supervisor.workers[0]
    worker.job = RunningJob(key=3, started=clock.now, limit_s=1.0)
    clock.now += 2
    (replacement,) = supervisor.sweep()
    assert replacement.because is ReplacedBecause.OVERRAN
    assert not worker.process.is_alive()
    assert replacement.restart_in_s == 0.0
    assert len(spawned) == 2


def test_without_a_back_off_every_death_restarts_at_once(clock: Clock) -> None:
    # The CLI batches' pools: items are handed to workers picked from the list
    supervisor, spawned = pool(backoff=None)
    for _ in range(10):
        clock.now += 0.25
        die(supervisor.workers[0])
        (replacement,) = supervisor.sweep()
        assert replacement.restart_in_s == 0.0
    assert len(spawned) == 11


def test_a_start_that_fails_counts_as_a_quick_death(clock: Clock) -> None:
    calls = {"n": 0}

    def spawn() -> FakeWorker:
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError("cannot start a process")
        return FakeWorker()

    supervisor: ProcessSupervisor[Any] = ProcessSupervisor(spawn, size=1, backoff=BACKOFF)
    failures = 0
    for _ in range(40):  # 10 s of sweeps
        clock.now += 0.25
        die(supervisor.workers[0])
        try:
            supervisor.sweep()
        except OSError:
            failures += 1
    # At once, then after 1, 2 and 4 s of back-off: not one start per sweep
    assert 3 <= failures <= 5


def test_restart_notes_say_when_the_next_one_starts() -> None:
    worker = FakeWorker()
    now = Replacement(worker=worker, because=ReplacedBecause.DIED, job=None, quick_deaths=1)
    later = Replacement(
        worker=worker, because=ReplacedBecause.DIED, job=None, quick_deaths=3, restart_in_s=2.0
    )
    assert now.restart_note("another") == "starting another"
    assert "3 in a row" in later.restart_note("another")
    assert later.restart_note("another").endswith("starting another in 2 s")


def test_a_death_the_pool_learns_first_follows_the_same_back_off(clock: Clock) -> None:
    # The de-identification pool learns of a death first (a worker that never said ready)
    supervisor, spawned = pool()
    first = supervisor.report_death(supervisor.workers[0])
    assert (first.quick_deaths, first.restart_in_s) == (1, 0.0)
    second = supervisor.report_death(supervisor.workers[0])
    assert (second.quick_deaths, second.restart_in_s) == (2, 1.0)
    assert supervisor.next_restart() == clock.now + 1.0
    assert supervisor.start_due() == []
    clock.now += 1.0
    (fresh,) = supervisor.start_due()
    assert fresh is spawned[-1] is supervisor.workers[0]
    assert supervisor.next_restart() is None
    assert len(spawned) == 3
