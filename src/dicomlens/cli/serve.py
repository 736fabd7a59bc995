"""``dicomlens serve [--host 127.0.0.1] [--port 8080] [--data-dir DIR]``: the local system.

On a loopback address (the default) only this machine can reach the server. Any other
``--host`` prints a warning and needs ``DICOMLENS_API_TOKEN``: the API and the upload
endpoint then answer only requests that send it as ``Authorization: Bearer <token>`` (the
web page asks for it once per browser tab). Without a token such a server does not start.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from dicomlens.config import Settings
from dicomlens.domain.errors import DicomlensError


def add_parser(subparsers: Any) -> None:
    """Register the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="run the web page, the API and the workers on this machine",
        description="Serve the web page and the API; process uploads with local workers.",
    )
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8080; 0 = any)")
    parser.add_argument("--data-dir", type=Path, default=None, help="jobs and files (./data)")
    parser.add_argument("--workers", type=int, default=None, help="worker count (default 2)")
    parser.add_argument(
        "--worker-kind", choices=("process", "thread"), default=None, help="default process"
    )
    parser.add_argument(
        "--http-processes", type=int, default=None, help="HTTP server processes (default 2)"
    )
    parser.add_argument(
        "--log-level", default="WARNING", help="handler log level (default WARNING)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Start the server; return when it has shut down."""
    # Powertools reads its configuration from the environment; locally there is no X-Ray
    # daemon or CloudWatch agent, and per-request INFO logs would cost more than the work.
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", str(args.log_level).upper())
    from dicomlens.local.guards import is_loopback, token_problem  # noqa: PLC0415
    from dicomlens.local.runtime import LocalServer, bind_socket  # noqa: PLC0415 - after env
    from dicomlens.local.workers import quiet_local_warnings  # noqa: PLC0415

    quiet_local_warnings()

    overrides = {
        name: value
        for name, value in (
            ("host", args.host),
            ("port", args.port),
            ("data_dir", args.data_dir),
            ("workers", args.workers),
            ("worker_kind", args.worker_kind),
            ("http_processes", args.http_processes),
        )
        if value is not None
    }
    settings = Settings(mode="local", **overrides)
    token = settings.api_token.get_secret_value() if settings.api_token else None
    problem = token_problem(settings.host, token)
    if problem is not None:
        print(f"dicomlens serve: {problem}", file=sys.stderr)  # noqa: T201
        return 2
    if not is_loopback(settings.host):
        print(  # noqa: T201
            f"warning: serving on {settings.host}, reachable from other machines; the API"
            " and uploads need the API token (DICOMLENS_API_TOKEN). Traffic is not"
            " encrypted: use a TLS proxy beyond a trusted network.",
            file=sys.stderr,
            flush=True,
        )
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        print(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}", file=sys.stderr)  # noqa: T201
        return 2
    port = sock.getsockname()[1]
    settings = settings.model_copy(update={"port": port})
    try:
        server = LocalServer(settings, sock=sock)
    except DicomlensError as exc:
        print(f"dicomlens serve: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2
    except OSError as exc:  # the data directory cannot be written (full, read-only, denied)
        print(  # noqa: T201
            f"dicomlens serve: cannot use the data directory {settings.data_dir}: "
            f"{exc.strerror or type(exc).__name__}",
            file=sys.stderr,
        )
        return 2
    recovery = server.recovery
    if recovery.requeued_jobs or recovery.expired_leases or recovery.released_events:
        print(  # noqa: T201
            f"recovered: {recovery.requeued_jobs} uploads re-queued, "
            f"{recovery.expired_leases} interrupted jobs, {recovery.released_events} events",
            flush=True,
        )
    print(f"dicomlens is serving on {settings.base_url()}  (data: {settings.data_dir})", flush=True)  # noqa: T201
    server.run()
    print("dicomlens stopped", flush=True)  # noqa: T201
    return 0
