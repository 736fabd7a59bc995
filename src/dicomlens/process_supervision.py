"""Kill-and-replace supervision for worker processes with a hard time limit per job.

Decoders are C code that Python cannot interrupt, so a job's time limit is enforced from
outside: a worker process that overruns its current job's limit is killed and a fresh one
takes its place, and so is one that died. Both supervised pools use this one implementation:
``dicomlens analyze`` / ``deidentify`` (:mod:`dicomlens.cli.timed_batch`) and the local
server's event consumers (:mod:`dicomlens.local.workers`). What a pool does with the job a
replaced worker held (report it, fail it, retry it) stays with the pool. Workers of both
pools die with their parent (:func:`die_with_parent`).
"""

from __future__ import annotations

import contextlib
import ctypes
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
    """A worker that was replaced, and the job it was running when that was decided."""

    worker: Worker
    because: ReplacedBecause
    job: RunningJob | None


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
    """

    def __init__(self, spawn: Callable[[], Worker], *, size: int) -> None:
        self._spawn = spawn
        self.workers: list[Worker] = [spawn() for _ in range(size)]

    def replace(self, worker: Worker) -> Worker:
        """Kill ``worker`` and start a fresh one in its place; returns the fresh one."""
        index = self.workers.index(worker)
        kill(worker.process)
        worker.close()
        fresh = self._spawn()
        self.workers[index] = fresh
        return fresh

    def next_deadline(self) -> float | None:
        """The earliest ``time.monotonic`` moment a running job overruns, or None if all idle."""
        jobs = [job for job in (w.running_job() for w in self.workers) if job is not None]
        return min((job.deadline for job in jobs), default=None)

    def sweep(self) -> list[Replacement[Worker]]:
        """Replace every worker that has died or overrun its job's limit; return them."""
        replaced: list[Replacement[Worker]] = []
        for worker in list(self.workers):
            job = worker.running_job()
            if not worker.process.is_alive():
                because = ReplacedBecause.DIED
            elif job is not None and time.monotonic() > job.deadline:
                because = ReplacedBecause.OVERRAN
            else:
                continue
            self.replace(worker)
            replaced.append(Replacement(worker=worker, because=because, job=job))
        return replaced

    def stop(self, *, grace_s: float) -> bool:
        """Wait up to ``grace_s`` for every worker to exit (its pool has asked it to), then
        kill the rest. Returns True when none had to be killed."""
        deadline = time.monotonic() + grace_s
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
        clean = True
        for worker in self.workers:
            if worker.process.is_alive():
                clean = False
                kill(worker.process)
            worker.close()
        return clean
