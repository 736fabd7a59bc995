"""Kill-and-replace supervision for worker processes with a hard time limit per job.

Decoders are C code that Python cannot interrupt, so a job's time limit is enforced from
outside: a worker process that overruns its current job's limit is killed and a fresh one
takes its place, and so is one that died. Both supervised pools use this one implementation:
``dicomlens analyze`` / ``deidentify`` (:mod:`dicomlens.cli.timed_batch`) and the local
server's event consumers (:mod:`dicomlens.local.workers`). What a pool does with the job a
replaced worker held (report it, fail it, retry it) stays with the pool. Workers of both
pools die with their parent (:func:`die_with_parent`).

A long-running pool (the local server's) also gives the supervisor a :class:`RestartBackoff`:
a slot whose workers keep dying soon after they start, holding no job (a broken install, a
library that crashes on load, memory too short to start), is restarted later and later
instead of in a tight loop that burns the CPU and floods the log while nothing gets done.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.process import BaseProcess
from typing import Generic, Protocol, TypeVar

KILL_WAIT_S = 5.0  # how long to wait for a killed process to be reaped


@dataclass(frozen=True, kw_only=True)
class RunningJob:
    """The job a worker is running: which one, since when (``time.monotonic``), its limit."""

    key: Hashable
    started: float
    limit_s: float

    @property
    def deadline(self) -> float:
        """The ``time.monotonic`` moment the job overruns."""
        return self.started + self.limit_s


class SupervisedWorker(Protocol):
    """A worker process as the supervisor sees it."""

    @property
    def process(self) -> BaseProcess:
        """The worker's process."""
        ...

    def running_job(self) -> RunningJob | None:
        """The job it is running now, or None when idle."""
        ...

    def close(self) -> None:
        """Release what it holds besides the process (pipes); called once it has exited."""
        ...


Worker = TypeVar("Worker", bound=SupervisedWorker)


class ReplacedBecause(StrEnum):
    """Why the supervisor replaced a worker."""

    DIED = "died"
    OVERRAN = "overran"


@dataclass(frozen=True, kw_only=True)
class Replacement(Generic[Worker]):
    """A worker that was replaced, and the job it was running when that was decided.

    ``quick_deaths``: how many workers in a row died in this slot soon after starting,
    holding no job, this one included (0 when this one does not count: it overran, held a
    job, or had been up for a while); ``restart_in_s``: when its replacement starts (0: it
    has started already).
    """

    worker: Worker
    because: ReplacedBecause
    job: RunningJob | None
    quick_deaths: int = 0
    restart_in_s: float = 0.0

    @property
    def log_level(self) -> int:
        """How loud the log says it: an error once the slot is on hold (nothing it should
        run is running), a warning otherwise."""
        return logging.ERROR if self.restart_in_s > 0 else logging.WARNING

    def restart_note(self, what: str) -> str:
        """How the log says when ``what`` (e.g. "another worker") starts."""
        if self.restart_in_s <= 0:
            return f"starting {what}"
        return (
            f"{self.quick_deaths} in a row died soon after starting; "
            f"starting {what} in {self.restart_in_s:g} s"
        )


@dataclass(frozen=True, kw_only=True)
class RestartBackoff:
    """When a slot whose workers keep dying soon after they start is restarted.

    A worker that dies holding no job within ``quick_s`` of its start died quickly. The
    first quick death is restarted at once (a one-off crash costs nothing); each further
    one in a row waits twice as long as the last, from ``first_delay_s`` up to
    ``max_delay_s``. A worker that stays up for ``quick_s`` clears the slot's count.
    """

    quick_s: float = 10.0
    first_delay_s: float = 1.0
    max_delay_s: float = 60.0

    def delay_s(self, quick_deaths: int) -> float:
        """How long to wait before restarting after ``quick_deaths`` quick deaths in a row."""
        if quick_deaths <= 1:
            return 0.0
        return min(self.max_delay_s, self.first_delay_s * 2.0 ** (quick_deaths - 2))


@dataclass(kw_only=True)
class _Slot:
    """A place in the pool: when its worker started, its quick deaths in a row, and when a
    dead worker waiting out its back-off is restarted (None: not waiting)."""

    started: float
    quick_deaths: int = 0
    restart_at: float | None = None


def die_with_parent(parent_pid: int | None = None) -> None:
    """Have the kernel SIGKILL this process when its parent goes (Linux ``PR_SET_PDEATHSIG``).

    Call it first thing in a worker process. The kernel's "parent" is the *thread* that
    started the process, so a pool must start workers from a thread that outlives them. When
    the parent (``parent_pid``, by default the process that started this one through
    :mod:`multiprocessing`) is already gone, having died before this call could arm the
    signal, the process exits at once.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if parent_pid is None:
        parent = multiprocessing.parent_process()
        parent_pid = None if parent is None else parent.pid
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def kill(process: BaseProcess) -> None:
    """SIGKILL ``process`` (if still running) and reap it."""
    if process.is_alive():
        process.kill()
    process.join(KILL_WAIT_S)


class ProcessSupervisor(Generic[Worker]):
    """``size`` worker processes started by ``spawn``; dead or overrunning ones are replaced.

    The pool that owns the supervisor calls :meth:`sweep` (or :meth:`replace`, when it learns
    of a death first) from one thread; the supervisor never decides what happens to a job.
    With a ``backoff``, :meth:`sweep` may leave a dead worker in its slot until its restart
    is due (see :class:`RestartBackoff`): such a pool hands work only through the workers'
    own queue or socket, never to a worker it picks from :attr:`workers`.
    """

    def __init__(
        self,
        spawn: Callable[[], Worker],
        *,
        size: int,
        backoff: RestartBackoff | None = None,
    ) -> None:
        self._spawn = spawn
        self._backoff = backoff
        self._slots = [_Slot(started=time.monotonic()) for _ in range(size)]
        self.workers: list[Worker] = [spawn() for _ in range(size)]

    def replace(self, worker: Worker) -> Worker:
        """Kill ``worker`` and start a fresh one in its place; returns the fresh one."""
        index = self.workers.index(worker)
        kill(worker.process)
        worker.close()
        return self._restart(index)

    def _restart(self, index: int) -> Worker:
        slot = self._slots[index]
        slot.restart_at = None
        slot.started = time.monotonic()
        try:
            fresh = self._spawn()
        except BaseException:
            # a start that fails is a quick death: the slot keeps its dead worker and, with a
            # back-off, waits before the next try (without one, the next sweep tries again)
            if self._backoff is not None:
                slot.quick_deaths += 1
                wait_s = self._backoff.delay_s(slot.quick_deaths)
                slot.restart_at = slot.started + max(self._backoff.first_delay_s, wait_s)
            raise
        self.workers[index] = fresh
        return fresh

    def waiting(self) -> int:
        """How many slots hold a dead worker waiting out its back-off."""
        return sum(1 for slot in self._slots if slot.restart_at is not None)

    def next_restart(self) -> float | None:
        """The earliest ``time.monotonic`` moment a waiting slot is due, or None."""
        due = [slot.restart_at for slot in self._slots if slot.restart_at is not None]
        return min(due, default=None)

    def next_deadline(self) -> float | None:
        """The earliest ``time.monotonic`` moment a running job overruns, or None if all idle."""
        jobs = [
            job
            for worker, slot in zip(self.workers, self._slots, strict=True)
            if slot.restart_at is None and (job := worker.running_job()) is not None
        ]
        return min((job.deadline for job in jobs), default=None)

    def sweep(self) -> list[Replacement[Worker]]:
        """Replace every worker that has died or overrun its job's limit; return them. A dead
        worker whose restart is delayed (see :class:`RestartBackoff`) is returned once, when
        found dead; its replacement starts at a later sweep, once due."""
        self.start_due()
        replaced: list[Replacement[Worker]] = []
        for index, worker in enumerate(list(self.workers)):
            slot = self._slots[index]
            if slot.restart_at is not None:
                continue
            now = time.monotonic()
            job = worker.running_job()
            if not worker.process.is_alive():
                because = ReplacedBecause.DIED
            elif job is not None and now > job.deadline:
                because = ReplacedBecause.OVERRAN
            else:
                if self._backoff is not None and now - slot.started >= self._backoff.quick_s:
                    slot.quick_deaths = 0  # it stayed up: the slot is healthy again
                continue
            replaced.append(self._end(index, because, job))
        return replaced

    def report_death(self, worker: Worker) -> Replacement[Worker]:
        """``worker`` died before doing any work (its pool learnt it first, e.g. it never said
        it was ready): end it as :meth:`sweep` would, restarting it now or, after quick deaths
        in a row, once due (:meth:`start_due` starts it then)."""
        index = self.workers.index(worker)
        return self._end(index, ReplacedBecause.DIED, None)

    def start_due(self) -> list[Worker]:
        """Start the workers of the slots whose back-off has run out; return them."""
        now = time.monotonic()
        return [
            self._restart(index)
            for index, slot in enumerate(self._slots)
            if slot.restart_at is not None and now >= slot.restart_at
        ]

    def _end(
        self, index: int, because: ReplacedBecause, job: RunningJob | None
    ) -> Replacement[Worker]:
        """Kill the worker of slot ``index`` and restart it now or after its back-off."""
        worker = self.workers[index]
        slot = self._slots[index]
        now = time.monotonic()
        quick = (
            self._backoff is not None
            and because is ReplacedBecause.DIED
            and job is None
            and now - slot.started < self._backoff.quick_s
        )
        slot.quick_deaths = slot.quick_deaths + 1 if quick else 0
        delay = self._backoff.delay_s(slot.quick_deaths) if self._backoff else 0.0
        if delay > 0:
            kill(worker.process)
            worker.close()
            slot.restart_at = now + delay
        else:
            self.replace(worker)
        return Replacement(
            worker=worker,
            because=because,
            job=job,
            quick_deaths=slot.quick_deaths,
            restart_in_s=delay,
        )

    def stop(self, *, grace_s: float) -> bool:
        """Wait up to ``grace_s`` for every worker to exit (its pool has asked it to), then
        kill the rest. Returns True when none had to be killed."""
        deadline = time.monotonic() + grace_s
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
        clean = True
        for worker, slot in zip(self.workers, self._slots, strict=True):
            if worker.process.is_alive():
                clean = False
                kill(worker.process)
            if slot.restart_at is None:  # a waiting one was closed when found dead
                worker.close()
        return clean
