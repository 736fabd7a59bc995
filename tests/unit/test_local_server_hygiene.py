"""The local server's hygiene: read timeouts for slow clients, a private data directory,
key files that are never readable by others, and the start-up rules for other hosts."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dicomlens.adapters.local.files import LocalBlobStore
from dicomlens.adapters.local.signing import Signer, load_or_create_secret
from dicomlens.config import Settings
from dicomlens.deid.secret import load_or_create_key
from dicomlens.domain.errors import DicomlensError
from dicomlens.local.event_queue import EventQueue
from dicomlens.local.runtime import LocalServer, http_server, make_data_dir_private
from fakes import FakeClock


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# Read timeouts: a uvicorn server with the local protocol, on a free loopback port.


async def echo_length(request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
    return PlainTextResponse(str(len(body)))


@pytest.fixture
def timed_server() -> Iterator[int]:
    app = Starlette(routes=[Route("/echo", echo_length, methods=["GET", "POST"])])
    settings = Settings(header_timeout_s=0.5, body_idle_timeout_s=0.5)
    server = http_server(app, settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def read_all(conn: socket.socket, limit_s: float = 5.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    started = time.monotonic()
    conn.settimeout(limit_s)
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data, time.monotonic() - started


def test_slow_headers_are_answered_408_and_closed(timed_server: int) -> None:
    conns = []
    for _ in range(20):  # a small slowloris
        conn = socket.create_connection(("127.0.0.1", timed_server))
        conn.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        conns.append(conn)
    idle = socket.create_connection(("127.0.0.1", timed_server))  # sends nothing at all
    for conn in conns:
        data, took = read_all(conn)
        assert data.startswith(b"HTTP/1.1 408")
        assert b'"REQUEST_TIMEOUT"' in data
        assert took < 3
        conn.close()
    data, _ = read_all(idle)
    assert data.startswith(b"HTTP/1.1 408")
    idle.close()


def test_a_stalled_body_is_closed(timed_server: int) -> None:
    conn = socket.create_connection(("127.0.0.1", timed_server))
    conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    data, took = read_all(conn)
    assert b"200" not in data
    assert took < 3
    conn.close()


def test_a_slow_but_steady_body_and_keep_alive_requests_are_served(timed_server: int) -> None:
    conn = socket.create_connection(("127.0.0.1", timed_server))
    conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
    for byte in b"abcd":
        time.sleep(0.3)  # each gap below the idle limit, the whole body above it
        conn.sendall(bytes([byte]))
    conn.settimeout(5)
    assert conn.recv(65536).endswith(b"\r\n\r\n4")
    time.sleep(0.3)
    conn.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.recv(65536).endswith(b"\r\n\r\n0")
    conn.close()


def test_oversized_headers_are_refused_431(timed_server: int) -> None:
    conn = socket.create_connection(("127.0.0.1", timed_server))
    conn.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
    try:
        for _ in range(200):
            conn.sendall(b"X-Junk: " + b"j" * 1000 + b"\r\n")
    except OSError:
        pass  # the server closed the connection while we were still sending
    try:
        data, _ = read_all(conn)
    except ConnectionResetError:  # closed with our unread headers in its buffer
        data = b""
    assert data.startswith(b"HTTP/1.1 431") or data == b""
    conn.close()


# A private data directory and key files.


def test_an_existing_open_data_dir_is_made_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "blobs" / "uploads" / "j").mkdir(parents=True, mode=0o755)
    data.chmod(0o755)
    for path in (data / "jobs.sqlite3", data / "blobs" / "uploads" / "j" / "a.dcm"):
        path.write_bytes(b"x")
        path.chmod(0o644)
    make_data_dir_private(data)
    assert mode_of(data) == 0o700
    assert mode_of(data / "blobs" / "uploads" / "j") == 0o700
    assert mode_of(data / "jobs.sqlite3") == 0o600
    assert mode_of(data / "blobs" / "uploads" / "j" / "a.dcm") == 0o600


def test_new_store_directories_files_and_queues_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a permissive umask: the code itself must not rely on the server's
    try:
        store = LocalBlobStore(
            tmp_path / "blobs", signer=Signer(b"s" * 32), base_url="http://x", clock=FakeClock()
        )
        store.put_bytes("derived/j/p.png", b"png", content_type="image/png")
        queue = EventQueue(tmp_path / "q.sqlite3")
        queue.put("k", {"n": 1})
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "blobs") == 0o700
    assert mode_of(tmp_path / "blobs" / "derived" / "j") == 0o700
    assert mode_of(tmp_path / "blobs" / "derived" / "j" / "p.png") == 0o600
    for name in ("q.sqlite3", "q.sqlite3-wal", "q.sqlite3-shm"):
        assert mode_of(tmp_path / name) == 0o600, name


def test_key_files_are_private_from_their_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_open = os.open

    def watching_open(path: str | Path, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_CREAT:
            seen.append(mode)
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", watching_open)
    old = os.umask(0o022)
    try:
        secret = load_or_create_secret(tmp_path / "secret.key")
        deid = load_or_create_key(tmp_path)
    finally:
        os.umask(old)
    assert seen and all(mode == 0o600 for mode in seen)
    assert mode_of(tmp_path / "secret.key") == 0o600
    assert mode_of(tmp_path / "deid-secret") == 0o600
    assert len(secret) == 32
    assert len(deid) == 64
    assert load_or_create_secret(tmp_path / "secret.key") == secret
    assert load_or_create_key(tmp_path) == deid
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deid-secret", "secret.key"]


def test_a_non_loopback_host_needs_a_token(tmp_path: Path) -> None:
    settings = Settings(mode="local", host="0.0.0.0", data_dir=tmp_path / "data")  # noqa: S104
    with pytest.raises(DicomlensError, match="DICOMLENS_API_TOKEN"):
        LocalServer(settings, sock=socket.socket())
    assert not (tmp_path / "data").exists()


def test_worker_monitor_and_server_lines_have_their_own_service_names() -> None:
    import io
    import json
    import logging

    from dicomlens.handlers.observability import logger as functions_logger
    from dicomlens.local.runtime import separate_server_logs

    names = ("dicomlens.local", "dicomlens.local.workers")
    saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in names
    }
    functions_logger.append_keys(jobId="0123456789abcdef0123456789abcdef")
    try:
        separate_server_logs()
        lines: dict[str, dict[str, object]] = {}
        for name in names:
            target = logging.getLogger(name)
            stream = io.StringIO()
            previous = target.handlers[0].setStream(stream)  # type: ignore[attr-defined]
            target.warning("worker exited (code %s)", -9)
            target.handlers[0].setStream(previous)  # type: ignore[attr-defined]
            lines[name] = json.loads(stream.getvalue())
    finally:
        functions_logger.remove_keys(["jobId"])
        for name, (handlers, propagate) in saved.items():
            logging.getLogger(name).handlers = handlers
            logging.getLogger(name).propagate = propagate
    assert lines["dicomlens.local.workers"]["service"] == "dicomlens-worker-monitor"
    assert lines["dicomlens.local"]["service"] == "dicomlens-local-server"
    assert lines["dicomlens.local.workers"]["message"] == "worker exited (code -9)"
    assert all("jobId" not in line for line in lines.values())


def test_token_rules_for_starting_a_server() -> None:
    from dicomlens.local.guards import token_problem

    assert token_problem("127.0.0.1", None) is None
    assert "DICOMLENS_API_TOKEN" in (token_problem("0.0.0.0", None) or "")  # noqa: S104
    assert "at least 16" in (token_problem("0.0.0.0", "short") or "")  # noqa: S104
    assert "at least 16" in (token_problem("127.0.0.1", "short") or "")
    assert token_problem("0.0.0.0", "k" * 32) is None  # noqa: S104
    assert Settings(api_token="  ").api_token is None  # noqa: S106 - an empty variable: no token
