"""Run a task over many files in worker processes with a hard per-file time limit.

Decoders are C code that Python cannot interrupt, so the limit is enforced from outside:
a worker that overruns is killed and replaced, and its file gets DECODE_TIMEOUT. Workers
ignore SIGINT; the parent stops them when it is interrupted.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from dicomlens.domain.errors import ErrorCode

Task = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one item produced: the task's dict, or an error code and message."""

    index: int
    item: Any
    value: dict[str, Any] | None
    error_code: str | None = None
    error_message: str | None = None
    seconds: float = 0.0


def _worker_main(conn: Connection, task: Task) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        index, item = message
        try:
            conn.send((index, task(item), None))
        except Exception as exc:  # reported per item: one bad file never crashes the batch
            conn.send((index, None, f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, context: Any, task: Task) -> None:
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_worker_main, args=(child, task), daemon=True
        )
        self.process.start()
        child.close()
        self.busy: tuple[int, Any, float] | None = None

    def stop(self, *, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


def run_batch(
    items: Sequence[Any], task: Task, *, workers: int, timeout_s: float
) -> Iterator[Outcome]:
    """Yield one :class:`Outcome` per item, in completion order.

    ``task`` must be picklable (a module-level function or a ``functools.partial`` of one).
    An item whose task runs longer than ``timeout_s`` yields DECODE_TIMEOUT.
    """
    context = mp.get_context("fork") if hasattr(signal, "SIGKILL") else mp.get_context()
    pending = deque(enumerate(items))
    pool = [_Worker(context, task) for _ in range(max(1, min(workers, len(items))))]
    try:
        while pending or any(w.busy for w in pool):
            for worker in pool:
                if worker.busy is None and pending:
                    index, item = pending.popleft()
                    worker.busy = (index, item, time.monotonic())
                    worker.conn.send((index, item))
            busy = [w for w in pool if w.busy]
            deadline = min(w.busy[2] for w in busy if w.busy) + timeout_s
            ready = wait([w.conn for w in busy], timeout=max(0.0, deadline - time.monotonic()))
            for worker in list(pool):
                if worker.busy is None:
                    continue
                index, item, started = worker.busy
                elapsed = time.monotonic() - started
                if worker.conn in ready:
                    try:
                        _, value, error = worker.conn.recv()
                    except EOFError:
                        value, error = None, "the worker process died"
                        pool[pool.index(worker)] = _replace(worker, context, task)
                    else:
                        worker.busy = None
                    yield Outcome(
                        index=index,
                        item=item,
                        value=value,
                        error_code=ErrorCode.INTERNAL if error else None,
                        error_message=error,
                        seconds=elapsed,
                    )
                elif elapsed > timeout_s:
                    pool[pool.index(worker)] = _replace(worker, context, task)
                    yield Outcome(
                        index=index,
                        item=item,
                        value=None,
                        error_code=ErrorCode.DECODE_TIMEOUT,
                        error_message=f"processing took over {timeout_s:g} s and was stopped",
                        seconds=elapsed,
                    )
    finally:
        for worker in pool:
            worker.stop(kill=worker.busy is not None)


def _replace(worker: _Worker, context: Any, task: Task) -> _Worker:
    worker.stop(kill=True)
    return _Worker(context, task)
