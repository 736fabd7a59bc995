"""Run ``dicomlens serve`` as a subprocess on a free loopback port, as a user starts it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 30.0


class ServerDidNotStartError(RuntimeError):
    """The server exited or did not answer in time; the message holds its log."""


@dataclass
class ServedApp:
    """A running ``dicomlens serve``: its base URL, data dir and log file."""

    url: str
    data_dir: Path
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the server wrote, for failure messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/config.json", timeout=1) as response:  # noqa: S310
            json.loads(response.read())
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


@contextmanager
def serve(root: Path, settings: Mapping[str, str] | None = None) -> Iterator[ServedApp]:
    """``dicomlens serve`` with a data dir under ``root``; SIGTERM on exit.

    Waits until ``/config.json`` answers. ``DICOMLENS_*`` variables of the calling
    environment are dropped so that the server runs with its embedded defaults, except
    that CT window presets (rendered on request) are switched on for the page to offer,
    and that ``settings`` (``DICOMLENS_*`` variables) are given as they are.
    """
    data_dir = root / "data"
    log = root / "serve.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "dicomlens.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    env = {key: value for key, value in os.environ.items() if not key.startswith("DICOMLENS_")}
    env["DICOMLENS_WINDOW_PRESETS"] = "true"
    env.update(settings or {})
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    app = ServedApp(url=url, data_dir=data_dir, log=log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _config_answers(url):
            if process.poll() is not None:
                raise ServerDidNotStartError(
                    f"dicomlens serve exited with {process.returncode}:\n{app.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ServerDidNotStartError(
                    f"dicomlens serve did not answer within {START_TIMEOUT_S}s:\n{app.log_tail()}"
                )
            time.sleep(0.1)
        yield app
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
