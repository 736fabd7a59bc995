"""Upload files one by one to a running server as a browser does, with the memory of every
server process sampled per file: shared by tests/integration/test_memory_bombs.py and
bench/bench_bombs.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import requests
from local_server import Server
from process_tree import MemorySampler, Peak

from corpus.generate import CT_IMAGE, attach_grey, new_dataset, ramp, to_bytes

TERMINAL = ("COMPLETED", "FAILED")
MB = 1000 * 1000 // 1024  # KiB in a megabyte (the bound is stated in MB)


def normal_ct(side: int = 512) -> bytes:
    """A normal ``side`` x ``side`` 12-bit CT with a rescale and a window (512: the
    legitimate image of the memory test)."""
    ds = new_dataset(CT_IMAGE, 5100 + side, "CT")
    attach_grey(ds, ramp(side, side, 0, 4095).astype(np.uint16), bits_stored=12)
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    return to_bytes(ds)


@dataclass
class FileRun:
    """What one uploaded file did: its job's end, de-identification, and memory peaks."""

    name: str
    accepted: bool = False
    status: str | None = None
    code: str | None = None
    seconds: float = 0.0
    deid_status: int | None = None
    deid_code: str | None = None
    deid_seconds: float | None = None
    peaks: list[Peak] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def peak_kib(self, roles: tuple[str, ...] = ("server", "http", "worker")) -> int:
        """The highest peak among processes of ``roles``."""
        return max((p.kib for p in self.peaks if p.role in roles), default=0)

    def line(self) -> str:
        """One line for a report: outcome, times and peaks in MB."""
        worker = self.peak_kib(("worker",)) // MB
        server = self.peak_kib(("server", "http")) // MB
        deid = f" deid {self.deid_status} {self.deid_code or ''}" if self.deid_status else ""
        return (
            f"{self.name:32} {self.status or '-':10} {self.code or '':22} {self.seconds:6.1f} s"
            f"  server {server:5d} MB  worker {worker:5d} MB{deid}"
        )


def create_upload(
    session: requests.Session, url: str, name: str, content_type: str, size: int
) -> dict[str, Any]:
    """POST /uploads; the grant."""
    response = session.post(
        f"{url}/uploads",
        json={"fileName": name, "contentType": content_type, "size": size},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    grant: dict[str, Any] = response.json()
    return grant


def post_file(
    session: requests.Session, grant: dict[str, Any], name: str, content_type: str, data: bytes
) -> requests.Response:
    """The browser's multipart form post of ``data`` with the grant's fields."""
    return session.post(
        grant["upload"]["url"],
        data=grant["upload"]["fields"],
        files={"file": (name, data, content_type)},
        timeout=60,
    )


def wait_terminal(
    session: requests.Session, url: str, job_id: str, *, until: float
) -> dict[str, Any]:
    """Poll GET /jobs/{id} until COMPLETED or FAILED, or ``until`` (monotonic); the last view."""
    while True:
        response = session.get(f"{url}/jobs/{job_id}", timeout=30)
        view: dict[str, Any] = response.json() if response.status_code == 200 else {}
        if view.get("status") in TERMINAL or time.monotonic() > until:
            return view
        time.sleep(0.1)


def deidentify(session: requests.Session, url: str, job_id: str, timeout: float) -> FileRun:
    """POST /jobs/{id}/deidentify; status, error code and time in a FileRun."""
    run = FileRun(name=job_id)
    started = time.monotonic()
    try:
        response = session.post(f"{url}/jobs/{job_id}/deidentify", timeout=timeout)
    except requests.Timeout:
        run.deid_seconds = time.monotonic() - started
        run.notes.append(f"de-identification gave no answer within {timeout:g} s")
        return run
    run.deid_seconds = time.monotonic() - started
    run.deid_status = response.status_code
    if response.status_code >= 400:
        try:
            run.deid_code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            run.deid_code = f"unstructured body: {response.text[:80]!r}"
    return run


def run_file(
    server: Server,
    sampler: MemorySampler,
    *,
    name: str,
    content_type: str,
    data: bytes,
    wait_s: float,
    deidentify_dicom: bool,
) -> FileRun:
    """Upload ``data``, wait up to ``wait_s`` for its job, de-identify it if DICOM; with peaks."""
    run = FileRun(name=name)
    sampler.begin()
    with requests.Session() as session:
        grant = create_upload(session, server.url, name, content_type, len(data))
        response = post_file(session, grant, name, content_type, data)
        run.accepted = response.status_code in (201, 204)
        if not run.accepted:
            run.notes.append(f"form post answered {response.status_code}: {response.text[:120]}")
            run.peaks = sampler.end()
            return run
        posted = time.monotonic()
        view = wait_terminal(session, server.url, grant["jobId"], until=posted + wait_s)
        run.seconds = time.monotonic() - posted
        run.status = view.get("status")
        run.code = (view.get("error") or {}).get("code")
        if deidentify_dicom:
            deid = deidentify(session, server.url, grant["jobId"], timeout=wait_s)
            run.deid_status, run.deid_code = deid.deid_status, deid.deid_code
            run.deid_seconds = deid.deid_seconds
            run.notes.extend(deid.notes)
    run.peaks = sampler.end()
    return run
