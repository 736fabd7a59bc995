"""``dicomlens serve`` as a subprocess for integration tests, plus a small HTTP client."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

FAST_ENV = {
    # The offline analyzers (OCR, classifier) are tested on their own; here they would only
    # make every job slower.
    "DICOMLENS_ANALYZERS": "",
    "PYTHONUNBUFFERED": "1",
}


@dataclass
class Server:
    """A running server: its URL, data dir, process and everything it printed."""

    url: str
    data_dir: Path
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def kill_hard(self) -> None:
        """kill -9, like a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Ask the server to stop; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def start(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    workers: int = 2,
    own_process_group: bool = False,
) -> Server:
    """Start ``dicomlens serve --port 0`` and wait for the URL it prints (in a process group
    of its own with ``own_process_group``, as a service manager starts it)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dicomlens.cli",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--workers",
            str(workers),
            "--log-level",
            "INFO",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **FAST_ENV, **(env or {})},
        start_new_session=own_process_group,
    )
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 60
    url = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output.append(line)
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            url = found.group(1)
            break
    if url is None:
        process.kill()
        raise RuntimeError("dicomlens serve did not start:\n" + "".join(output))
    stdout = process.stdout

    def drain() -> None:
        for line in stdout:
            output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    return Server(url=url, data_dir=data_dir, process=process, output=output)


@contextmanager
def running(data_dir: Path, **kwargs: Any) -> Iterator[Server]:
    """A server for the duration of the block (SIGTERM, then kill, afterwards)."""
    server = start(data_dir, **kwargs)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(60)
            except subprocess.TimeoutExpired:
                server.process.kill()


def create(session: requests.Session, url: str, name: str, size: int) -> dict[str, Any]:
    response = session.post(
        f"{url}/uploads",
        json={"fileName": name, "contentType": "application/dicom", "size": size},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    grant: dict[str, Any] = response.json()
    return grant


def post_form(
    session: requests.Session,
    grant: dict[str, Any],
    data: bytes,
    fields: dict[str, str] | None = None,
) -> requests.Response:
    return session.post(
        grant["upload"]["url"],
        data=fields if fields is not None else grant["upload"]["fields"],
        files={"file": ("upload.dcm", data, "application/dicom")},
        timeout=60,
    )


def upload(session: requests.Session, url: str, name: str, data: bytes) -> str:
    grant = create(session, url, name, len(data))
    response = post_form(session, grant, data)
    assert response.status_code == 204, response.text
    return str(grant["jobId"])


def job(session: requests.Session, url: str, job_id: str) -> dict[str, Any]:
    response = session.get(f"{url}/jobs/{job_id}", timeout=30)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def wait_all_finished(
    url: str, job_ids: list[str], timeout: float = 150
) -> dict[str, dict[str, Any]]:
    """Poll until every job is COMPLETED or FAILED; their last views."""
    views: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    with requests.Session() as session:
        pending = list(job_ids)
        while pending and time.monotonic() < deadline:
            still = []
            for job_id in pending:
                view = job(session, url, job_id)
                views[job_id] = view
                if view["status"] not in ("COMPLETED", "FAILED"):
                    still.append(job_id)
            pending = still
            if pending:
                time.sleep(0.2)
    unfinished = [
        j for j in job_ids if views.get(j, {}).get("status") not in ("COMPLETED", "FAILED")
    ]
    assert not unfinished, f"{len(unfinished)} jobs unfinished, e.g. {views.get(unfinished[0])}"
    return views
