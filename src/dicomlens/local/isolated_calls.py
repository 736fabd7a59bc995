"""Compute-heavy API handlers (de-identification) in worker processes, never in the server.

De-identification decodes every frame and runs OCR: in the HTTP server's process one request
took it to 2 GB, and it kept 1 GB afterwards; a thread cannot be timed out or killed. So the
local server hands such requests (their API Gateway event) to a small pool of worker
processes and awaits the answer without blocking its event loop. A call that runs past the
hard time limit (the one processing has, :meth:`Settings.processing_time_limit_s`, unless
``deid_time_limit_s`` says otherwise) gets its worker killed and replaced through the same
kill-and-replace supervisor as the event consumers
(:mod:`dicomlens.process_supervision`), and the client gets 422 ``PROCESSING_TIMEOUT``;
a worker that dies during a call (a decoder that took its process down: the file's
doing, not the server's) gives 422 ``WORKER_CRASHED``; when every worker is busy and ``MAX_WAITING``
calls already wait, 503 ``SERVER_BUSY``. A worker that dies before it is ready (a library
that crashes on load, memory too short) is restarted at once, then with a back-off
(:class:`~dicomlens.process_supervision.RestartBackoff`) instead of in a loop that would stall
the event loop with process starts; while every worker waits out its back-off, calls get 503
``SERVICE_UNAVAILABLE`` at once instead of waiting for a worker that cannot come. All carry
the stable error body. Workers die with their parent (``PR_SET_PDEATHSIG``, and end of their
pipe).

The pool starts on its first call (a server that never de-identifies never starts one), from
the event loop's thread: the parent-death signal follows the thread that started a process,
and that thread lives as long as the server.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import multiprocessing as mp
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from dicomlens import bootstrap
from dicomlens.config import Settings
from dicomlens.domain.errors import ErrorCode, error_body
from dicomlens.local.apigw import LocalLambdaContext
from dicomlens.local.routes import import_handler
from dicomlens.process_supervision import ProcessSupervisor, RestartBackoff, RunningJob

log = logging.getLogger(__name__)

MAX_WAITING = 8  # calls queued for a busy pool before the server answers 503
MAX_WAIT_S = 120.0  # for a free worker (one starting loads models), then 503
READY = "ready"


def _reply(status: int, code: ErrorCode, message: str) -> dict[str, Any]:
    """An API Gateway proxy response carrying the stable error body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(error_body(code, message)),
        "isBase64Encoded": False,
    }


def _worker_main(conn: Connection, settings: Settings, handler_name: str, function: str) -> None:
    """Serve calls from ``conn`` until it closes: one event in, one response out."""
    from dicomlens.local.workers import die_with_parent, quiet_local_warnings  # noqa: PLC0415

    die_with_parent()
    quiet_local_warnings()
    # The server decides when workers stop (it SIGKILLs them): a signal to the whole process
    # group must not end a call while the server drains its requests (see local.workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    bootstrap.use_services(bootstrap.build_services(settings))
    handler = import_handler(handler_name)
    context = LocalLambdaContext(function_name=function)
    _warm_up(handler_name)
    conn.send(READY)
    while True:
        try:
            event = conn.recv()
        except (EOFError, OSError):
            return
        if event is None:
            return
        try:
            response = handler(event, context)
        except Exception as exc:  # the handler maps known errors; anything else is a bug
            log.exception("isolated handler raised %s", type(exc).__name__)
            response = _reply(500, ErrorCode.INTERNAL, "the request failed unexpectedly")
        conn.send(response)


def _warm_up(handler_name: str) -> None:
    """Call the handler module's ``warm_up()``, if it has one, so that a call's time limit
    measures its work and not the loading of models; a failure shows on the first call."""
    module = importlib.import_module(handler_name.rpartition(".")[0])
    warm_up = getattr(module, "warm_up", None)
    if warm_up is None:
        return
    try:
        warm_up()
    except Exception as exc:  # the first call reports it with the handler's own error
        log.warning("warming up %s failed: %s", handler_name, type(exc).__name__)


@dataclass(eq=False, kw_only=True)
class _CallWorker:
    """A worker process, its pipe, and the call it runs (as the supervisor sees it)."""

    process: BaseProcess
    conn: Connection
    limit_s: float
    ready: bool = False
    started: float | None = None

    def running_job(self) -> RunningJob | None:
        """The call being run, or None when idle."""
        if self.started is None:
            return None
        return RunningJob(key=self.process.pid, started=self.started, limit_s=self.limit_s)

    def close(self) -> None:
        """Close the parent's end of the pipe."""
        self.conn.close()


class _WorkersDownError(Exception):
    """Every worker of the pool is waiting out its back-off: none can take a call now."""


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[_CallWorker] = field(default_factory=asyncio.Future)


class IsolatedCalls:
    """``size`` worker processes that run the handler ``handler_name`` on API events."""

    def __init__(
        self, *, settings: Settings, handler_name: str, function: str, size: int = 1
    ) -> None:
        self._settings = settings
        self._handler_name = handler_name
        self._function = function
        self._size = size
        self.limit_s = settings.deid_time_limit_s or settings.processing_time_limit_s()
        self._context = mp.get_context("spawn")
        self._supervisor: ProcessSupervisor[_CallWorker] | None = None
        self._idle: deque[_CallWorker] = deque()
        self._waiting: deque[_Waiter] = deque()
        self._restart_timer: asyncio.TimerHandle | None = None

    def _spawn(self) -> _CallWorker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main,
            args=(child, self._settings, self._handler_name, self._function),
            name="dicomlens-isolated",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _CallWorker(process=process, conn=parent, limit_s=self.limit_s)
        asyncio.get_running_loop().add_reader(parent.fileno(), self._on_ready, worker)
        return worker

    def _on_ready(self, worker: _CallWorker) -> None:
        """The worker finished starting (or died while starting)."""
        loop = asyncio.get_running_loop()
        loop.remove_reader(worker.conn.fileno())
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            message = None
        if message != READY or self._supervisor is None:
            if self._supervisor is not None and worker in self._supervisor.workers:
                self._failed_to_start(worker)
            return
        worker.ready = True
        self._release(worker)

    def _failed_to_start(self, worker: _CallWorker) -> None:
        """Restart ``worker``, which died before it was ready: now, or after a back-off when
        its slot's workers keep dying so (see :mod:`dicomlens.process_supervision`)."""
        supervisor = self._supervisor
        if supervisor is None:
            return
        try:
            replacement = supervisor.report_death(worker)
        except Exception:  # the fresh start failed too: its slot waits out a back-off
            log.exception("starting an isolated worker failed")
        else:
            exitcode = worker.process.exitcode  # reaped by now
            note = replacement.restart_note("another")
            log.log(
                replacement.log_level,
                "an isolated worker died while starting (code %s); %s",
                exitcode,
                note,
            )
        self._after_restart_change()

    def _after_restart_change(self) -> None:
        """Time the next delayed start; fail the waiting calls when no worker can come."""
        supervisor = self._supervisor
        if supervisor is None:
            return
        due = supervisor.next_restart()
        if due is not None and self._restart_timer is None:
            delay = max(0.0, due - time.monotonic())
            self._restart_timer = asyncio.get_running_loop().call_later(delay, self._start_due)
        if supervisor.waiting() == len(supervisor.workers):
            while self._waiting:
                waiter = self._waiting.popleft()
                if not waiter.future.done():
                    waiter.future.set_exception(_WorkersDownError())

    def _start_due(self) -> None:
        self._restart_timer = None
        if self._supervisor is None:
            return
        try:
            self._supervisor.start_due()
        except Exception:  # its slot waits out a longer back-off; the next timer tries again
            log.exception("starting an isolated worker failed")
        self._after_restart_change()

    def _release(self, worker: _CallWorker) -> None:
        """Hand an idle worker to the first caller still waiting, or keep it."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.future.done():
                waiter.future.set_result(worker)
                return
        self._idle.append(worker)

    async def _acquire(self) -> _CallWorker | None:
        """An idle worker, after waiting in line; None when too many already wait."""
        if self._supervisor is None:
            self._supervisor = ProcessSupervisor(
                self._spawn, size=self._size, backoff=RestartBackoff()
            )
        if self._supervisor.waiting() == len(self._supervisor.workers):
            raise _WorkersDownError
        while self._idle:
            worker = self._idle.popleft()
            if worker.process.is_alive():
                return worker
            self._replace(worker)  # died while idle: its fresh one joins once ready
        if len(self._waiting) >= MAX_WAITING:
            return None
        waiter = _Waiter()
        self._waiting.append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), MAX_WAIT_S)
        except TimeoutError:
            waiter.future.cancel()
            return None
        except asyncio.CancelledError:
            if (
                waiter.future.done()
                and not waiter.future.cancelled()
                and waiter.future.exception() is None
            ):
                self._release(waiter.future.result())
            else:
                waiter.future.cancel()
            raise

    async def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The handler's response to ``event`` (an API Gateway proxy response), or the stable
        error response when the pool is full, the call overran or its worker died."""
        try:
            worker = await self._acquire()
        except _WorkersDownError:
            return _reply(
                503,
                ErrorCode.SERVICE_UNAVAILABLE,
                "the worker process for this request keeps failing to start (see the "
                "server's log); try again later",
            )
        if worker is None:
            return _reply(503, ErrorCode.SERVER_BUSY, "the server is busy; try again shortly")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()

        def readable() -> None:
            loop.remove_reader(worker.conn.fileno())
            try:
                answer.set_result(worker.conn.recv())
            except (EOFError, OSError) as exc:
                answer.set_exception(exc)

        worker.started = time.monotonic()
        try:
            worker.conn.send(event)
            loop.add_reader(worker.conn.fileno(), readable)
            response: dict[str, Any] = await asyncio.wait_for(answer, self.limit_s)
        except TimeoutError:
            log.warning("an isolated call ran over %g s; its worker is killed", self.limit_s)
            self._replace(worker)
            return _reply(
                422,
                ErrorCode.PROCESSING_TIMEOUT,
                f"the request took over {self.limit_s:g} s and was stopped",
            )
        except (EOFError, OSError):
            log.warning("an isolated worker died during a call; starting another")
            self._replace(worker)
            return _reply(
                422,
                ErrorCode.WORKER_CRASHED,
                "the process handling this request died; the file may be malformed",
            )
        except BaseException:  # the client went away: the worker's state is unknown
            self._replace(worker)
            raise
        worker.started = None
        self._release(worker)
        return response

    def _replace(self, worker: _CallWorker) -> None:
        """Kill ``worker`` and start a fresh one (which joins the pool once ready)."""
        if self._supervisor is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(worker.conn.fileno())
        self._supervisor.replace(worker)

    def stop(self) -> None:
        """Kill the workers (they hold no state worth waiting for)."""
        if self._restart_timer is not None:
            self._restart_timer.cancel()
            self._restart_timer = None
        if self._supervisor is not None:
            self._supervisor.stop(grace_s=0)
            self._supervisor = None
