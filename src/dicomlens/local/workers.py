"""The worker pool: consumers of the event queue that call the processImage handler.

Workers are processes by default. Measured with ``bench/bench_local.py --compare-workers``
(2 cores, 500 distinct 512x512 CT uploads, core pipeline): process workers 13.8 and thread
workers 14.6 instances/s, the same within noise, since numpy, zlib and the codecs release
the GIL for most of the work. Processes win on what the figure does not show: a codec that
crashes or hangs takes down one worker, which the pool replaces, not the server; and a
worker's memory goes back to the system when it exits. ``worker_kind="thread"`` remains for
small machines.

A worker leases one event, calls the handler with it, and acknowledges it once every job
the event names is finished; a job still leased by another (crashed) attempt is retried
when that lease ends. An event that keeps killing workers is given up after
``MAX_DELIVERIES`` and its job marked FAILED. Process workers die with their parent
(``PR_SET_PDEATHSIG``), like the Lambda runtime does with a crashed host.

Crashed worker (process workers): the monitor sees the death at once. The processor releases
the event's jobs still PROCESSING under the dead attempt, counting the crash
(``ImageProcessor.release_crashed``), and the event is made visible again at once; after
``max_worker_crashes`` the job ends FAILED with WORKER_CRASHED instead of waiting out leases.
A worker that dies through Python (an error outside the handler, a library's sys.exit())
counts the same: it clears its slot only once the event is handled, so it dies with the
event in it. A thread worker, which nothing would replace, logs such an error, reschedules
the event and goes on.

Hard time limit (process workers): decoders are C code that Python cannot interrupt, so the
pool's monitor enforces it from outside with the kill-and-replace supervisor the CLI's
batches use too (:mod:`dicomlens.process_supervision`). Each worker publishes the event it
is running and since when in shared memory; one that runs longer than
``Settings.processing_time_limit_s()`` per job of the event is killed and replaced. The
processor ends the event's jobs still PROCESSING as FAILED with DECODE_TIMEOUT, or
PROCESSING_TIMEOUT when the worker was in the analyzers (:mod:`dicomlens.analysis.phase`)
(``ImageProcessor.fail_stuck``, conditional on the attempt, so the killed attempt can never
finish them too), and the event is acknowledged (or, if it names a job not yet started, made
visible again). Thread workers cannot be killed, so the limit applies to process workers
only. The pool never changes a job itself: every job change goes through the processor.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from dicomlens import bootstrap
from dicomlens.analysis import phase
from dicomlens.config import Settings
from dicomlens.domain.errors import TransientError
from dicomlens.domain.keys import decode_event_key, job_id_from_upload_key
from dicomlens.local.apigw import LocalLambdaContext
from dicomlens.local.event_queue import Delivery, EventQueue
from dicomlens.local.routes import import_handler
from dicomlens.process_supervision import (
    ProcessSupervisor,
    ReplacedBecause,
    Replacement,
    RestartBackoff,
    RunningJob,
    die_with_parent,
)

__all__ = ["Consumer", "WorkerPool", "die_with_parent", "queue_path", "quiet_local_warnings"]

log = logging.getLogger(__name__)

MAX_DELIVERIES = 5
IDLE_POLL_S = 0.5
TRANSIENT_POLL_S = 2.0  # between tries of a queue that could not be written (a full disk)
PROCESSOR_FUNCTION = "ProcessImageFunction"
JOB_GRACE_S = 5.0  # beyond decode_timeout_s: rendering, PNG encoding, analyzers
WATCH_INTERVAL_S = 0.25

# A worker's slot in shared memory: the event it runs (0 = idle), when it started
# (time.monotonic, system-wide on Linux) and how many jobs the event names. The worker
# writes the event id last and clears it first, so a reader never pairs an event with an
# older start time; no lock, so a killed worker cannot leave one held.
_SLOT_EVENT, _SLOT_STARTED, _SLOT_JOBS, _SLOT_PHASE = 0, 1, 2, 3


class Waker(Protocol):
    """A counting semaphore: one release per queued event wakes one idle worker."""

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Wait for a token."""
        ...

    def release(self) -> None:
        """Add a token."""
        ...


class StopFlag(Protocol):
    """Set when workers should finish their current event and exit."""

    def is_set(self) -> bool:
        """Whether the pool is stopping."""
        ...

    def set(self) -> None:
        """Ask workers to stop."""
        ...


def queue_path(settings: Settings) -> Any:
    """Where the event queue lives in the data directory."""
    return settings.data_dir / "queue.sqlite3"


def _job_ids(event: dict[str, Any]) -> list[str]:
    ids = []
    for record in event.get("Records") or ():
        raw = record.get("s3", {}).get("object", {}).get("key", "")
        job_id = job_id_from_upload_key(decode_event_key(str(raw)))
        if job_id is not None:
            ids.append(job_id)
    return ids


class Consumer:
    """One worker's loop (in a process or a thread)."""

    def __init__(
        self,
        *,
        settings: Settings,
        handler_name: str,
        waker: Waker,
        stop: StopFlag,
        parent_pid: int | None = None,
        slot: Any = None,
    ) -> None:
        self._settings = settings
        self._handler: Callable[[dict[str, Any], Any], Any] = import_handler(handler_name)
        self._waker = waker
        self._stop = stop
        self._parent_pid = parent_pid
        self._slot = slot
        self._queue = EventQueue(queue_path(settings))
        self._queue_unwritable = False

    def run(self) -> None:
        """Consume events until the stop flag is set (or the parent process is gone)."""
        while not self._stop.is_set():
            if self._parent_pid is not None and os.getppid() != self._parent_pid:
                return
            try:
                delivery = self._queue.lease(lease_s=self._settings.lease_timeout_s)
            except TransientError:  # the queue cannot be written now (a full disk)
                if not self._queue_unwritable:
                    log.warning("the event queue cannot be written now; trying again every 2 s")
                self._queue_unwritable = True
                self._waker.acquire(timeout=TRANSIENT_POLL_S)
                continue
            self._queue_unwritable = False
            if delivery is None:
                self._waker.acquire(timeout=IDLE_POLL_S)
                continue
            if self._slot is None:
                self.deliver(delivery)
                continue
            self._slot[_SLOT_STARTED] = time.monotonic()
            self._slot[_SLOT_PHASE] = float(phase.Phase.DECODING)
            self._slot[_SLOT_JOBS] = float(len(_job_ids(delivery.body)))
            self._slot[_SLOT_EVENT] = float(delivery.event_id)
            try:
                self.deliver(delivery)
            except TransientError as exc:
                # The queue or job store could not be written (a full disk): nothing crashed.
                # The event stays leased and comes again when its lease ends; the worker
                # lives on (dying would count a crash against the file's job).
                log.warning("a transient failure (%s); the event comes again later", exc.message)
            except Exception as exc:
                if self._parent_pid is not None:
                    # A process worker dies with the event still in its slot: the pool's
                    # monitor releases the event's jobs and makes it visible again at once
                    # (counted as a crash), instead of leaving it leased, its jobs
                    # PROCESSING, until the lease runs out.
                    raise
                # A thread worker has no monitor to replace it: it lives on, and the event
                # is retried later, as for a processor that raised.
                log.error("worker failed on an event (%s); it will be retried", type(exc).__name__)
                self._queue.retry_at(delivery.event_id, time.time() + 2.0**delivery.deliveries)
            # Not on the way out of a dying process (SystemExit from a library, or the
            # exception above): the event stays in the slot for the monitor.
            self._slot[_SLOT_EVENT] = 0.0

    def deliver(self, delivery: Delivery) -> None:
        """Run the processor on one event, then acknowledge or reschedule it."""
        processor = bootstrap.get_services().processor
        job_ids = _job_ids(delivery.body)
        if delivery.deliveries > MAX_DELIVERIES:
            for job_id in job_ids:
                processor.give_up(job_id, message="processing this file crashed repeatedly")
            self._queue.ack(delivery.event_id)
            return
        try:
            answer = self._handler(
                delivery.body, LocalLambdaContext(function_name=PROCESSOR_FUNCTION)
            )
        except Exception as exc:
            log.error("processor raised %s; the event will be retried", type(exc).__name__)
            self._queue.retry_at(delivery.event_id, time.time() + 2.0**delivery.deliveries)
            return
        from dicomlens.services.processing import UploadOutcome  # noqa: PLC0415 (see _time_out)

        if str(UploadOutcome.RETRY) in _outcomes(answer):
            # a transient failure (a full disk): its jobs were released, not failed
            wait = self._queue.retry_transient(delivery.event_id)
            log.warning("a transient failure; the event will be retried in %g s", wait)
            return
        retry_at: float | None = None
        for job in processor.unfinished(job_ids):
            lease = job.lease_until.timestamp() if job.lease_until is not None else 0.0
            retry_at = max(retry_at or 0.0, lease, time.time() + 0.05)
        if retry_at is None:
            self._queue.ack(delivery.event_id)
        else:
            self._queue.retry_at(delivery.event_id, retry_at)


def _outcomes(answer: Any) -> set[str]:
    """The outcomes the processor's summary (``{"records": [{"outcome": ...}]}``) reports."""
    records = answer.get("records") if isinstance(answer, dict) else None
    if not isinstance(records, list):
        return set()
    return {str(record.get("outcome")) for record in records if isinstance(record, dict)}


def quiet_local_warnings() -> None:
    """Powertools warns on every invocation without metrics; locally metrics are off."""
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def _process_main(
    settings: Settings,
    handler_name: str,
    *,
    waker: Waker,
    stop: StopFlag,
    parent_pid: int,
    slot: Any,
) -> None:
    die_with_parent(parent_pid)
    quiet_local_warnings()
    # The parent decides when workers stop: it asks them (the stop flag) and SIGKILLs those
    # still busy after the grace. A SIGINT or SIGTERM sent to the whole process group (a
    # terminal's Ctrl-C, systemd stopping the service) must not kill them mid-job, which
    # would count a crash against the job and have the monitor start replacements.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    bootstrap.use_services(bootstrap.build_services(settings))
    # The processor and its stores (SQLite files it may create) before any event is taken:
    # a worker that cannot open them dies holding no event, instead of leaving one leased
    # (its jobs PENDING) until the lease runs out.
    _ = bootstrap.get_services().processor
    phase.listen(lambda entered: slot.__setitem__(_SLOT_PHASE, float(entered)))
    Consumer(
        settings=settings,
        handler_name=handler_name,
        waker=waker,
        stop=stop,
        parent_pid=parent_pid,
        slot=slot,
    ).run()


@dataclass(kw_only=True)
class _ConsumerProcess:
    """A consumer's process and its shared-memory slot, as the supervisor sees it."""

    process: BaseProcess
    slot: Any
    job_limit_s: float

    def current(self) -> tuple[int, float, int]:
        """The event being run (0 = none), since when, and how many jobs it names."""
        event_id = int(self.slot[_SLOT_EVENT])
        return event_id, float(self.slot[_SLOT_STARTED]), int(self.slot[_SLOT_JOBS])

    def running_job(self) -> RunningJob | None:
        """The event being run, keyed by its id, with ``job_limit_s`` per job it names."""
        event_id, started, jobs = self.current()
        if not event_id:
            return None
        return RunningJob(key=event_id, started=started, limit_s=self.job_limit_s * max(1, jobs))

    def close(self) -> None:
        """Nothing beyond the process to release."""


class WorkerPool:
    """``size`` consumers; dead or overrunning process workers are replaced while it runs."""

    def __init__(self, *, settings: Settings, handler_name: str, size: int, kind: str) -> None:
        self._settings = settings
        self._handler_name = handler_name
        self._size = size
        self.kind = kind
        self._context = mp.get_context("spawn")
        self.waker: Waker
        self._stop: StopFlag
        if kind == "process":
            self.waker = self._context.Semaphore(0)
            self._stop = self._context.Event()
        else:
            self.waker = threading.Semaphore(0)
            self._stop = threading.Event()
        self._processes: ProcessSupervisor[_ConsumerProcess] | None = None
        self._threads: list[threading.Thread] = []
        self._monitor: threading.Thread | None = None
        self._closing = threading.Event()
        # Set once stop() has ended every worker: the monitor thread waits for it, since the
        # workers it started die with it (PR_SET_PDEATHSIG follows the starting thread).
        self._workers_stopped = threading.Event()
        self._lock = threading.Lock()  # the monitor vs stop(): one changes workers at a time
        self._queue: EventQueue | None = None
        self.job_limit_s = settings.processing_time_limit_s()

    def start(self) -> None:
        """Start the consumers (and, for processes, a monitor that replaces dead ones)."""
        if self.kind != "process":
            self._threads = [self._start_thread() for _ in range(self._size)]
            return
        self._processes = ProcessSupervisor(
            self._start_process, size=self._size, backoff=RestartBackoff()
        )
        self._monitor = threading.Thread(target=self._watch, name="worker-monitor", daemon=True)
        self._monitor.start()

    def _start_process(self) -> _ConsumerProcess:
        slot = self._context.RawArray("d", 4)
        process = self._context.Process(
            target=_process_main,
            args=(self._settings, self._handler_name),
            kwargs={
                "waker": self.waker,
                "stop": self._stop,
                "parent_pid": os.getpid(),
                "slot": slot,
            },
            name="dicomlens-worker",
            daemon=True,
        )
        process.start()
        return _ConsumerProcess(process=process, slot=slot, job_limit_s=self.job_limit_s)

    def _start_thread(self) -> threading.Thread:
        consumer = Consumer(
            settings=self._settings,
            handler_name=self._handler_name,
            waker=self.waker,
            stop=self._stop,
            slot=self._context.RawArray("d", 4),
        )
        thread = threading.Thread(target=consumer.run, name="dicomlens-worker", daemon=True)
        thread.start()
        return thread

    def _watch(self) -> None:
        while not self._closing.wait(WATCH_INTERVAL_S):
            with self._lock:
                if self._closing.is_set() or self._processes is None:
                    break
                try:
                    replaced = self._processes.sweep()
                except Exception:  # the monitor must outlive any one failure
                    log.exception("worker monitor: replacing a worker failed")
                    continue
                for replacement in replaced:
                    try:
                        self._after_replacement(replacement)
                    except Exception:
                        log.exception("worker monitor: ending a stopped event failed")
        self._workers_stopped.wait()

    def _after_replacement(self, replacement: Replacement[_ConsumerProcess]) -> None:
        """Log a replaced worker; end the event it overran (see :meth:`_time_out`)."""
        job = replacement.job
        if replacement.because is ReplacedBecause.DIED:
            exitcode = replacement.worker.process.exitcode
            if job is None:
                note = replacement.restart_note("another")
                log.log(replacement.log_level, "worker exited (code %s); %s", exitcode, note)
                return
            log.warning(
                "worker exited (code %s) while running event %s; starting another",
                exitcode,
                job.key,
            )
            if isinstance(job.key, int):
                self._release_crashed(job.key)
            return
        if job is None:
            return
        still, _, _ = replacement.worker.current()
        if still != job.key:  # it finished that event just before the kill
            if still:
                log.warning("worker killed as it began event %s; retried later", still)
            return
        log.warning("worker ran event %s for over %g s; killed and replaced", still, job.limit_s)
        self._time_out(still, job.limit_s, replacement.worker.slot[_SLOT_PHASE])

    def _event_queue(self) -> EventQueue:
        if self._queue is None:
            self._queue = EventQueue(queue_path(self._settings))
        return self._queue

    def _release_crashed(self, event_id: int) -> None:
        """The worker running ``event_id`` died: have the processor release its jobs (or fail
        them with WORKER_CRASHED after ``max_worker_crashes``), then make the event visible
        again at once while a job of it is unfinished, else acknowledge it."""
        queue = self._event_queue()
        body = queue.body(event_id)
        if body is None:
            return
        from dicomlens.services.processing import UploadOutcome  # noqa: PLC0415 (see _time_out)

        processor = bootstrap.get_services().processor
        job_ids = _job_ids(body)
        for job_id in job_ids:
            report = processor.release_crashed(
                job_id, max_crashes=self._settings.max_worker_crashes
            )
            if report.outcome is UploadOutcome.FAILED:
                log.warning("job %s failed with WORKER_CRASHED", job_id)
        if processor.unfinished(job_ids):
            queue.retry_at(event_id, time.time())
            self.notify()
        else:
            queue.ack(event_id)

    def _time_out(self, event_id: int, limit: float, in_phase: float = 0.0) -> None:
        """Have the processor fail the event's unfinished jobs with DECODE_TIMEOUT; acknowledge
        the event, or make it visible again when it names a job not yet started."""
        queue = self._event_queue()
        body = queue.body(event_id)
        if body is None:
            return
        # Imported here: the processing core loads the imaging stack, which the server's
        # parent process otherwise never needs.
        from dicomlens.services.processing import UploadOutcome  # noqa: PLC0415

        processor = bootstrap.get_services().processor
        not_started = False
        code, message = phase.timeout_error(in_phase, limit)
        for job_id in _job_ids(body):
            report = processor.fail_stuck(job_id, code=code, message=message)
            if report.outcome is UploadOutcome.NOT_STARTED:
                not_started = True
            elif report.outcome is UploadOutcome.FAILED:
                log.warning("job %s failed with %s", job_id, code)
        if not_started:
            queue.retry_at(event_id, time.time())
            self.notify()
        else:
            queue.ack(event_id)

    def notify(self) -> None:
        """An event was queued: wake one idle worker."""
        self.waker.release()

    def stop(self, *, grace_s: float) -> bool:
        """Let workers finish their current event; after ``grace_s`` kill process workers.

        Returns True when every worker stopped on its own (nothing was interrupted).
        """
        with self._lock:
            self._closing.set()
        self._stop.set()
        for _ in range(self._size):
            self.waker.release()
        if self._processes is not None:
            try:
                return self._processes.stop(grace_s=grace_s)
            finally:
                self._workers_stopped.set()
        deadline = time.monotonic() + grace_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)
