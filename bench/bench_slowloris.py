"""Slow clients against ``dicomlens serve``: ``python bench/bench_slowloris.py [--sockets 200]``.

Opens N connections that send a request line and one header and then nothing more (the
"slowloris" pattern), plus N that send headers and then a body that stalls, and reports how
long the server keeps them open (it should close the first after ``header_timeout_s``, the
second after ``body_idle_timeout_s``), and whether a normal request is still served
meanwhile.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests


def start_server(data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """``dicomlens serve --port 0`` logging to a file beside ``data_dir``; its process and URL.

    (A pipe nobody reads would fill up with the server's log lines and stall it.)
    """
    log_path = data_dir.with_name("serve.log")
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "dicomlens.cli", "serve"),
                *("--port", "0", "--data-dir", str(data_dir)),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "DICOMLENS_ANALYZERS": "", **env},
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"serving on (http://\S+)", log_path.read_text())
        if found:
            return process, found.group(1)
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("dicomlens serve did not start")


def held_for(conns: list[socket.socket], started: float, limit_s: float) -> list[float]:
    """Seconds from ``started`` until the server closed each connection (at most
    ``limit_s``)."""
    held = []
    for conn in conns:
        remaining = max(0.01, limit_s - (time.monotonic() - started))
        conn.settimeout(remaining)
        try:
            while conn.recv(65536):
                pass
        except (TimeoutError, ConnectionResetError):
            pass
        held.append(min(limit_s, time.monotonic() - started))
        conn.close()
    return held


def main() -> None:
    """Run the measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--limit", type=float, default=60.0, help="stop waiting after (s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(Path(tmp) / "data", {})
        try:
            where = urlsplit(url)
            address = (where.hostname or "127.0.0.1", where.port or 80)
            host = where.netloc.encode()
            headers_only, stalled_body = [], []
            started = time.monotonic()
            for _ in range(args.sockets):
                conn = socket.create_connection(address)
                conn.sendall(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n")
                headers_only.append(conn)
                conn = socket.create_connection(address)
                conn.sendall(
                    b"POST /uploads HTTP/1.1\r\nHost: " + host + b"\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
                )
                stalled_body.append(conn)
            served = requests.get(f"{url}/config.json", timeout=10).status_code
            header_held = held_for(headers_only, started, args.limit)
            body_held = held_for(stalled_body, started, args.limit)
        finally:
            process.terminate()
            process.wait(60)
    print(f"{args.sockets} slow-header sockets: closed after max {max(header_held):.1f} s")
    print(f"{args.sockets} stalled-body sockets: closed after max {max(body_held):.1f} s")
    print(f"a normal request meanwhile: HTTP {served}")


if __name__ == "__main__":
    main()
