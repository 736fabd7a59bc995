"""``dicomlens serve``: start-up recovery, the worker pool, the HTTP server, clean shutdown.

One server owns a data directory (an exclusive lock). At start-up every lease left by a
previous run is ended, since its holders are dead: queued events become deliverable at
once, PROCESSING jobs become claimable again, and every unfinished job whose upload is on
disk gets an ObjectCreated event if it has none. Jobs then finish exactly once, because the
job store's claim and finish are conditional. Partial files of uploads cut off by the crash
are deleted. PENDING jobs whose upload never arrived end EXPIRED, at start-up and every
``EXPIRY_SWEEP_S`` while serving (``GET /jobs/{jobId}`` also ends them when it reads one).

On SIGINT/SIGTERM the server stops accepting connections, lets in-flight requests finish,
lets workers finish their current job for up to ``shutdown_grace_s``, and otherwise kills
them: their jobs are picked up again on the next start. Workers ignore both signals, so the
same holds when the whole process group gets them (Ctrl-C, systemd stopping the service);
a worker still starting up (importing) dies of it, holding no job.

The data directory holds PHI (uploads, jobs, results): it is made 0700 and its files 0600
at start-up (an older directory is fixed), and the server runs with umask 077 so that
everything it creates later is private too. HTTP connections get read timeouts
(:mod:`dicomlens.local.read_timeouts`) and the Host/token checks of
:mod:`dicomlens.local.guards`.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette

from dicomlens import assets, bootstrap
from dicomlens.adapters.local.files import LocalBlobStore, make_private_dirs
from dicomlens.adapters.local.sqlite_jobs import SqliteJobStore
from dicomlens.config import Settings
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.jobs import JobStatus
from dicomlens.handlers.observability import use_own_service
from dicomlens.local import routes as route_table
from dicomlens.local.app import build_app
from dicomlens.local.event_queue import EventQueue
from dicomlens.local.guards import allowed_host_headers, token_problem
from dicomlens.local.job_wait import JobWaiter
from dicomlens.local.read_timeouts import timed_protocol
from dicomlens.local.s3_events import object_created_event
from dicomlens.local.upload_endpoint import FormLimits
from dicomlens.local.workers import (
    PROCESSOR_FUNCTION,
    Waker,
    WorkerPool,
    die_with_parent,
    queue_path,
    quiet_local_warnings,
)
from dicomlens.private_files import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, create_private_file
from dicomlens.process_supervision import ProcessSupervisor, RestartBackoff, RunningJob
from dicomlens.viewer import ohif

log = logging.getLogger(__name__)

EXPIRY_SWEEP_S = 30.0  # how often the server ends PENDING jobs whose upload never arrived


@dataclass(frozen=True, kw_only=True)
class Recovery:
    """What start-up found: leases ended and events re-created."""

    released_events: int
    expired_leases: int
    requeued_jobs: int
    removed_partial_files: int = 0
    expired_jobs: int = 0


PRIVATE_UMASK = 0o077
WORKER_MONITOR_SERVICE = "dicomlens-worker-monitor"
WORKER_MONITOR_LOGGER = "dicomlens.local.workers"
SERVER_SERVICE = "dicomlens-local-server"
SERVER_LOGGER = "dicomlens.local"


def separate_server_logs() -> None:
    """Give the server's own lines (connections, uploads) and the worker monitor's their
    own service names, free of the keys the handlers append for their invocations."""
    use_own_service(SERVER_LOGGER, SERVER_SERVICE)
    use_own_service(WORKER_MONITOR_LOGGER, WORKER_MONITOR_SERVICE)
    # The multipart parser warns about each malformed form it is fed; the client gets a 400.
    logging.getLogger("python_multipart").setLevel(logging.ERROR)


def make_data_dir_private(data_dir: Path) -> None:
    """Create ``data_dir`` 0700, or make an existing one and everything in it private
    (directories 0700, files 0600; symbolic links are not followed).

    A directory already 0700 only has its top-level entries checked: nobody else can reach
    anything below it, and a full walk of a large blob store at every start would be slow.
    An entry that cannot be changed (another owner) is counted in one warning, unnamed:
    names under the data directory are upload file names.
    """
    if not data_dir.exists():
        make_private_dirs(data_dir)
        return
    entries: list[Path] = [data_dir]
    if stat.S_IMODE(data_dir.stat().st_mode) == PRIVATE_DIR_MODE:
        entries += data_dir.iterdir()
    else:
        for root, dirs, files in os.walk(data_dir, followlinks=False):
            entries += (Path(root, name) for name in (*dirs, *files))
    failed = 0
    for path in entries:
        try:
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                continue
            mode = PRIVATE_DIR_MODE if stat.S_ISDIR(info.st_mode) else PRIVATE_FILE_MODE
            if stat.S_IMODE(info.st_mode) != mode:
                path.chmod(mode)
        except OSError:
            failed += 1
    if failed:
        log.warning("%d entries of the data directory could not be made private", failed)


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on ``data_dir`` for the life of the process."""
    make_data_dir_private(data_dir)
    create_private_file(data_dir / ".lock")
    handle = (data_dir / ".lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise DicomlensError(
            ErrorCode.CONFLICT, f"another dicomlens server is using {data_dir}"
        ) from exc
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def recover(*, jobs: SqliteJobStore, blobs: LocalBlobStore, queue: EventQueue) -> Recovery:
    """End stale leases and re-create the events of unfinished uploaded jobs."""
    services = bootstrap.get_services()
    released = queue.release_all()
    expired = jobs.expire_leases(now=services.clock.now())
    queued = queue.queued_keys()
    requeued = 0
    for job in jobs.unfinished():
        if job.upload_key in queued or not blobs.exists(job.upload_key):
            continue
        if job.status is JobStatus.PENDING or job.status is JobStatus.PROCESSING:
            size = blobs.path_of(job.upload_key).stat().st_size
            queue.put(job.upload_key, object_created_event(key=job.upload_key, size=size, etag=""))
            requeued += 1
    return Recovery(
        released_events=released,
        expired_leases=expired,
        requeued_jobs=requeued,
        removed_partial_files=blobs.remove_partial_files(),
        expired_jobs=expire_abandoned(jobs),
    )


def expire_abandoned(jobs: SqliteJobStore) -> int:
    """End EXPIRED every PENDING job whose upload never arrived in time (see
    ``ResultsService.expire_if_abandoned``); returns how many."""
    results = bootstrap.get_services().results
    pending = (job for job in jobs.unfinished() if job.status is JobStatus.PENDING)
    return sum(results.expire_if_abandoned(job).status is JobStatus.EXPIRED for job in pending)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def local_app(
    settings: Settings,
    *,
    services: bootstrap.Services,
    routes: list[route_table.Route],
    queue: EventQueue,
    notify: Callable[[], None],
) -> Starlette:
    """The HTTP application of the local runtime for ``settings``."""
    if not isinstance(services.blobs, LocalBlobStore):
        raise DicomlensError(ErrorCode.VALIDATION_ERROR, "dicomlens serve needs local mode")
    return build_app(
        routes=routes,
        blobs=services.blobs,
        queue=queue,
        clock=services.clock,
        max_upload_bytes=settings.max_upload_bytes,
        notify=notify,
        api_base_url=settings.base_url(),
        cors_origin=settings.cors_origin(),
        web_dir=settings.web_dir or assets.web_root(),
        form_limits=FormLimits(
            fields=settings.max_form_fields, field_bytes=settings.max_form_field_bytes
        ),
        allowed_hosts=allowed_host_headers(
            host=settings.host,
            port=settings.port,
            public_host=urlsplit(settings.public_url).netloc if settings.public_url else None,
            extra=settings.allowed_hosts,
        ),
        api_token=settings.api_token.get_secret_value() if settings.api_token else None,
        dicomweb_max_body=settings.stow_max_body_bytes,
        viewer_build=ohif.installed(settings.viewer_dir or ohif.default_cache_dir()),
        dicomweb=settings.serves_dicomweb(),
        job_waiter=JobWaiter(services.jobs) if isinstance(services.jobs, SqliteJobStore) else None,
    )


def http_server(app: Starlette, settings: Settings | None = None) -> uvicorn.Server:
    """A quiet uvicorn server for ``app``, with the read timeouts of ``settings``."""
    settings = settings or Settings()
    return uvicorn.Server(
        uvicorn.Config(
            app,
            http=timed_protocol(
                header_timeout_s=settings.header_timeout_s,
                body_idle_timeout_s=settings.body_idle_timeout_s,
            ),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
            lifespan="off",
        )
    )


def _http_process_main(
    settings: Settings, sock: socket.socket, routes: list[route_table.Route], waker: Waker
) -> None:
    die_with_parent()
    os.umask(PRIVATE_UMASK)
    quiet_local_warnings()
    separate_server_logs()
    services = bootstrap.build_services(settings)
    bootstrap.use_services(services)
    app = local_app(
        settings,
        services=services,
        routes=routes,
        queue=EventQueue(queue_path(settings)),
        notify=waker.release,
    )
    # In its own process uvicorn handles SIGINT/SIGTERM itself: stop accepting, drain.
    http_server(app, settings).run(sockets=[sock])


@dataclass(kw_only=True)
class _HttpProcess:
    """An extra HTTP process, as the supervisor that replaces it when it dies sees it."""

    process: multiprocessing.process.BaseProcess

    def running_job(self) -> RunningJob | None:
        """None: requests have no time limit enforced from here."""
        return None

    def close(self) -> None:
        """Nothing beyond the process to release."""


class LocalServer:
    """The whole local system on one machine."""

    def __init__(self, settings: Settings, *, sock: socket.socket) -> None:
        problem = token_problem(
            settings.host, settings.api_token.get_secret_value() if settings.api_token else None
        )
        if problem is not None:
            raise DicomlensError(ErrorCode.VALIDATION_ERROR, problem)
        self.settings = settings
        self._sock = sock
        os.umask(PRIVATE_UMASK)  # workers and HTTP processes inherit it
        self._lock = lock_data_dir(settings.data_dir)
        separate_server_logs()
        services = bootstrap.build_services(settings)
        bootstrap.use_services(services)
        if not isinstance(services.blobs, LocalBlobStore) or not isinstance(
            services.jobs, SqliteJobStore
        ):
            raise DicomlensError(ErrorCode.VALIDATION_ERROR, "dicomlens serve needs local mode")
        self.blobs = services.blobs
        self.jobs = services.jobs
        self.queue = EventQueue(queue_path(settings))
        template = route_table.load_template(
            settings.template_path or route_table.default_template_path()
        )
        self.routes = route_table.http_routes(template)
        processor = route_table.function_handlers(template).get(PROCESSOR_FUNCTION)
        if processor is None:
            raise DicomlensError(
                ErrorCode.VALIDATION_ERROR, f"the template has no {PROCESSOR_FUNCTION}"
            )
        self.recovery = recover(jobs=self.jobs, blobs=self.blobs, queue=self.queue)
        self.pool = WorkerPool(
            settings=settings,
            handler_name=processor,
            size=settings.workers,
            kind=settings.worker_kind,
        )
        self.app = local_app(
            settings,
            services=services,
            routes=self.routes,
            queue=self.queue,
            notify=self.pool.notify,
        )
        self._server = http_server(self.app, settings)
        # Extra HTTP processes share the listening socket (the kernel spreads connections):
        # the API handlers are CPU-bound Python, and one event loop uses one core.
        self._extra_http: ProcessSupervisor[_HttpProcess] | None = None
        self._stopping = threading.Event()

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM, then shut down cleanly."""
        self.pool.start()
        extra = self.settings.http_processes - 1 if self.pool.kind == "process" else 0
        self._extra_http = ProcessSupervisor(
            self._start_http_process, size=max(0, extra), backoff=RestartBackoff()
        )
        # uvicorn runs in a thread so that the signals stay with us: we decide the order of
        # shutdown (stop accepting, drain requests, then drain workers).
        http = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="http", daemon=True
        )
        http.start()
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        next_sweep = time.monotonic() + EXPIRY_SWEEP_S
        try:
            while not self._stopping.wait(0.5):
                if not http.is_alive():
                    break
                self._replace_dead_http_processes()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + EXPIRY_SWEEP_S
                    self._sweep_expired()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.shutdown(http)

    def _start_http_process(self) -> _HttpProcess:
        process = multiprocessing.get_context("spawn").Process(
            target=_http_process_main,
            args=(self.settings, self._sock, self.routes, self.pool.waker),
            name="dicomlens-http",
            # Not daemonic: an HTTP process starts its own de-identification workers
            # (multiprocessing forbids a daemon's children). It dies with us all the same
            # (die_with_parent), and shutdown() stops and joins it.
            daemon=False,
        )
        process.start()
        return _HttpProcess(process=process)

    def _replace_dead_http_processes(self) -> None:
        """Start another HTTP process for each extra one that has died (killed, or a crash in
        C code): the listening socket is shared, so the others went on serving meanwhile."""
        if self._extra_http is None or self._stopping.is_set():
            return
        try:
            replaced = self._extra_http.sweep()
        except Exception:  # the server outlives a failed start; the next check retries
            log.exception("starting an HTTP process failed")
            return
        for replacement in replaced:
            exitcode = replacement.worker.process.exitcode
            note = replacement.restart_note("another")
            log.log(replacement.log_level, "an HTTP process exited (code %s); %s", exitcode, note)

    def _sweep_expired(self) -> None:
        try:
            expired = expire_abandoned(self.jobs)
        except Exception:  # the server outlives a failed sweep; the next one tries again
            log.exception("ending expired uploads failed")
            return
        if expired:
            log.info("%d jobs expired: their uploads never arrived", expired)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        self._stopping.set()

    def shutdown(self, http: threading.Thread) -> None:
        """Stop accepting, drain in-flight requests, then drain or re-queue worker jobs."""
        self._server.should_exit = True
        extra = self._extra_http.workers if self._extra_http is not None else []
        for worker in extra:
            if worker.process.pid is not None and worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)
        http.join(timeout=15)
        for worker in extra:
            worker.process.join(timeout=15)
            if worker.process.is_alive():
                worker.process.kill()
        clean = self.pool.stop(grace_s=self.settings.shutdown_grace_s)
        if not clean:
            # The killed workers' events and claims are released for the next start.
            self.queue.release_all()
            self.jobs.expire_leases(now=bootstrap.get_services().clock.now())
        self._lock.close()
