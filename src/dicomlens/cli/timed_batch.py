"""Run a task over many items in worker processes, each item with a hard time limit.

The pool behind ``dicomlens analyze`` and ``dicomlens deidentify``. The parent hands items
to workers over pipes; a worker that overruns the limit or dies is killed and replaced
(:mod:`dicomlens.process_supervision`), and its item yields DECODE_TIMEOUT or INTERNAL.
Workers ignore SIGINT; the parent stops them when it is interrupted. Workers die with the
parent: the kernel kills them when it dies (:func:`~dicomlens.process_supervision.die_with_parent`),
and an idle worker also exits when its pipe reaches EOF or its parent process is gone.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from dicomlens.domain.errors import ErrorCode, where_raised
from dicomlens.process_supervision import (
    ProcessSupervisor,
    ReplacedBecause,
    RunningJob,
    die_with_parent,
    kill,
)

Task = Callable[[Any], dict[str, Any]]

STOP_GRACE_S = 5.0  # for idle workers to exit after the batch ends
PARENT_CHECK_S = 1.0  # how often an idle worker checks that its parent is alive

Busy = tuple[int, Any, float]  # a worker's item: index, item, time.monotonic() at start


@dataclass(frozen=True, kw_only=True)
class ItemResult:
    """What one item produced: the task's dict, or an error code and message."""

    index: int
    item: Any
    value: dict[str, Any] | None
    error_code: str | None = None
    error_message: str | None = None
    seconds: float = 0.0


def _worker_main(conn: Connection, parent_end: Connection, task: Task, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    # The parent's end, inherited through fork: closed here so the pipe reaches EOF when
    # the parent's copy goes.
    parent_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            if not conn.poll(PARENT_CHECK_S):
                if os.getppid() != parent_pid:
                    return
                continue
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        index, item = message
        try:
            conn.send((index, task(item), None))
        except Exception as exc:  # reported per item: one bad file never crashes the batch
            conn.send((index, None, failure_text(exc)))


def failure_text(exc: Exception) -> str:
    """What an item that raised reports: the exception's type and where it was raised, and
    for an OSError the system's words (``No space left on device``). Never the exception's
    message, nor an OSError's file name: they may quote the file's content or a path that
    names a patient, and the report goes to the index and the progress lines."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return where_raised(exc)


class _PipeWorker:
    """A worker process fed one item at a time over a pipe."""

    def __init__(self, context: Any, task: Task, *, timeout_s: float) -> None:
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_worker_main, args=(child, self.conn, task, os.getpid()), daemon=True
        )
        self.process.start()
        child.close()
        self.timeout_s = timeout_s
        self.busy: Busy | None = None

    def running_job(self) -> RunningJob | None:
        """The item being run, keyed by its index, or None when idle."""
        if self.busy is None:
            return None
        index, _, started = self.busy
        return RunningJob(key=index, started=started, limit_s=self.timeout_s)

    def give(self, index: int, item: Any) -> None:
        """Send the worker its next item."""
        self.busy = (index, item, time.monotonic())
        self.conn.send((index, item))

    def ask_to_stop(self) -> None:
        """An idle worker exits after its current message; a busy one is killed now."""
        if self.busy is not None:
            kill(self.process)
            return
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            kill(self.process)

    def close(self) -> None:
        """Close the parent's end of the pipe."""
        self.conn.close()


def run_batch(
    items: Sequence[Any], task: Task, *, workers: int, timeout_s: float
) -> Iterator[ItemResult]:
    """Yield one :class:`ItemResult` per item, in completion order.

    ``task`` must be picklable (a module-level function or a ``functools.partial`` of one).
    An item whose task runs longer than ``timeout_s`` yields DECODE_TIMEOUT; one whose worker
    dies yields INTERNAL.
    """
    context = mp.get_context("fork") if hasattr(signal, "SIGKILL") else mp.get_context()
    pending = deque(enumerate(items))
    supervisor = ProcessSupervisor(
        lambda: _PipeWorker(context, task, timeout_s=timeout_s),
        size=max(1, min(workers, len(items))),
    )
    try:
        while pending or any(w.busy for w in supervisor.workers):
            for worker in supervisor.workers:
                if worker.busy is None and pending:
                    worker.give(*pending.popleft())
            deadline = supervisor.next_deadline()
            ready = wait(
                [w.conn for w in supervisor.workers if w.busy],
                timeout=0.0 if deadline is None else max(0.0, deadline - time.monotonic()),
            )
            for worker in list(supervisor.workers):
                if worker.busy is not None and worker.conn in ready:
                    yield _receive(worker, worker.busy, supervisor)
            for replaced in supervisor.sweep():
                if replaced.worker.busy is not None:
                    yield _lost(replaced.worker.busy, replaced.because, timeout_s=timeout_s)
    finally:
        for worker in supervisor.workers:
            worker.ask_to_stop()
        supervisor.stop(grace_s=STOP_GRACE_S)


def _receive(
    worker: _PipeWorker, busy: Busy, supervisor: ProcessSupervisor[_PipeWorker]
) -> ItemResult:
    """The result ``worker`` sent for ``busy`` (it is idle again), or INTERNAL when its pipe
    closed (it is replaced)."""
    try:
        _, value, error = worker.conn.recv()
    except EOFError:
        supervisor.replace(worker)
        return _lost(busy, ReplacedBecause.DIED, timeout_s=worker.timeout_s)
    index, item, started = busy
    worker.busy = None
    return ItemResult(
        index=index,
        item=item,
        value=value,
        error_code=ErrorCode.INTERNAL if error else None,
        error_message=error,
        seconds=time.monotonic() - started,
    )


def _lost(busy: Busy, because: ReplacedBecause, *, timeout_s: float) -> ItemResult:
    """The failure of the item a replaced worker held."""
    index, item, started = busy
    if because is ReplacedBecause.OVERRAN:
        code, message = (
            ErrorCode.DECODE_TIMEOUT,
            f"processing took over {timeout_s:g} s and was stopped",
        )
    else:
        code, message = ErrorCode.INTERNAL, "the worker process died"
    return ItemResult(
        index=index,
        item=item,
        value=None,
        error_code=code,
        error_message=message,
        seconds=time.monotonic() - started,
    )
