# ruff: noqa: S101 - a benchmark script: asserts check answers; imports stay lazy
"""Local stack benchmarks; runnable on its own: ``python bench/bench_local.py``.

1. Latency, upload -> COMPLETED, of a 512x512 CT (pydicom-data ``693_UNCI.dcm``): p50, p95.
2. Ingest + preview throughput over the HTTP API for >= 500 distinct CT instances (the same
   slice with a new SOP Instance UID each), beside Orthanc in the same run (Debian
   ``orthanc``, run inside ``unshare -n`` with its own loopback, since it listens on all
   interfaces): POST /instances then GET /instances/{id}/preview.
3. ``POST /uploads`` with 50 concurrent keep-alive clients: requests/s and p99.

``--compare-workers`` also measures the ingest with thread workers, the data behind the
choice of process workers.

The ingest figures include where the CPU went (Linux ``/proc``): milliseconds of CPU per
instance in the worker processes, in the processes serving HTTP (``dicomlens serve`` and
its extra HTTP processes) and in this benchmark's own clients, and how many GET /jobs each
instance took. On a shared machine the throughput moves with the load; CPU per instance
moves much less.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from peers import CT_SLICE, make_ct_instances, orthanc_in_this_namespace, run_in_own_network


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@contextmanager
def served(
    data_dir: Path,
    *,
    worker_kind: str = "process",
    workers: int = 2,
    analyzers: str | None = "",
) -> Iterator[str]:
    """``dicomlens serve`` on a free loopback port; yields its base URL.

    ``analyzers=""`` runs the core pipeline only (decode, window, previews, metadata, tag
    labels); None keeps the embedded default (the offline analyzers too).
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DICOMLENS_LEASE_TIMEOUT_S": "120"}
    env.pop("DICOMLENS_ANALYZERS", None)
    if analyzers is not None:
        env["DICOMLENS_ANALYZERS"] = analyzers
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
            "--worker-kind",
            worker_kind,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    url = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        match = re.search(r"serving on (http://\S+)", line)
        if match:
            url = match.group(1)
            break
        if not line and process.poll() is not None:
            break
    if url is None:
        process.kill()
        raise RuntimeError("dicomlens serve did not start")
    threading.Thread(target=process.stdout.read, daemon=True).start()
    try:
        warm_up(url)
        yield url
    finally:
        process.terminate()
        process.wait(60)


def upload(session: requests.Session, base: str, name: str, data: bytes) -> str:
    created = session.post(
        f"{base}/uploads",
        json={"fileName": name, "contentType": "application/dicom", "size": len(data)},
        timeout=30,
    )
    created.raise_for_status()
    grant = created.json()
    posted = session.post(
        grant["upload"]["url"],
        data=grant["upload"]["fields"],
        files={"file": (name, data, "application/dicom")},
        timeout=60,
    )
    posted.raise_for_status()
    return str(grant["jobId"])


def wait_done(
    session: requests.Session,
    base: str,
    job_id: str,
    interval: float,
    on_poll: Callable[[], object] | None = None,
) -> dict[str, Any]:
    """The job once COMPLETED or FAILED: each GET /jobs asks the server to hold the answer
    until then (``?wait=``, up to 20 s); ``interval`` is slept between answers that come
    back unfinished all the same."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if on_poll is not None:
            on_poll()
        job: dict[str, Any] = session.get(
            f"{base}/jobs/{job_id}", params={"wait": "20"}, timeout=60
        ).json()
        if job["status"] in ("COMPLETED", "FAILED"):
            return job
        time.sleep(interval)
    raise TimeoutError(job_id)


def warm_up(base: str) -> None:
    """Wait until the workers have started (the first job waits for their imports)."""
    with requests.Session() as session:
        data = CT_SLICE.read_bytes()
        for _ in range(4):
            wait_done(session, base, upload(session, base, "warm.dcm", data), 0.01)


def latency(base: str, files: list[Path]) -> dict[str, float]:
    """Upload -> COMPLETED, one file at a time (the job read waits for the job to end)."""
    seconds = []
    with requests.Session() as session:
        for path in files:
            data = path.read_bytes()
            start = time.perf_counter()
            job = wait_done(session, base, upload(session, base, path.name, data), 0.01)
            seconds.append(time.perf_counter() - start)
            assert job["status"] == "COMPLETED", job
    return {
        "n": len(seconds),
        "p50_ms": statistics.median(seconds) * 1000,
        "p95_ms": percentile(seconds, 0.95) * 1000,
    }


def ingest(base: str, files: list[Path], clients: int) -> dict[str, Any]:
    """Upload, wait for COMPLETED, fetch the preview: every file, ``clients`` at a time.

    Each client reads its job with ``?wait=``: the server answers once the job has ended
    (before, the clients polled every 200 ms, which capped 16 clients near 80 instances/s
    whatever the server did). With the figures, the CPU it cost per instance
    (:func:`cpu_by_role`) and the GET /jobs per instance."""
    local = threading.local()
    polls = itertools.count()

    def one(path: Path) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        job_id = upload(session, base, path.name, path.read_bytes())
        job = wait_done(session, base, job_id, 0.2, on_poll=lambda: next(polls))
        assert job["status"] == "COMPLETED", job
        preview = session.get(job["urls"]["preview"], timeout=30)
        assert preview.content.startswith(b"\x89PNG")

    port = int(base.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    cpu_before = cpu_by_role(port)
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, files))
    elapsed = time.perf_counter() - start
    cpu_after = cpu_by_role(port)
    n = len(files)
    return {
        "n": n,
        "seconds": elapsed,
        "per_s": n / elapsed,
        "job_polls_per_instance": next(polls) / n,
        "cpu_ms_per_instance": {
            role: (cpu_after[role] - cpu_before[role]) / n * 1000 for role in cpu_after
        },
    }


def _descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, depth) of every process below ``pid`` (its children at depth 1)."""
    found: list[tuple[int, int]] = []
    pending = [(pid, 0)]
    while pending:
        parent, depth = pending.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in children:
                found.append((int(child), depth + 1))
                pending.append((int(child), depth + 1))
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on TCP ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def _holds_socket(pid: int, inodes: set[str]) -> bool:
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def cpu_by_role(port: int) -> dict[str, float]:
    """CPU seconds used so far by this benchmark's own process (``client``) and by the
    server it started on ``port``: the processes serving HTTP (``http``: the serve process,
    which also runs the worker monitor, and every process holding the listening socket) and
    the others (``workers``: the queue consumers, and helpers that stay idle)."""
    times = os.times()
    roles = {"client": times.user + times.system, "http": 0.0, "workers": 0.0}
    inodes = _listening_inodes(port)
    for pid, depth in _descendants(os.getpid()):
        role = "http" if depth == 1 or _holds_socket(pid, inodes) else "workers"
        roles[role] += _cpu_seconds(pid)
    return roles


async def _hammer(host: str, port: int, clients: int, seconds: float) -> list[float]:
    body = json.dumps({"fileName": "a.dcm", "contentType": "application/dicom", "size": 1000})
    request = (
        f"POST /uploads HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    times: list[float] = []
    stop = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < stop:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 201"):
                raise RuntimeError(head[:40])
            times.append(time.perf_counter() - start)
        writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return times


def create_upload_load(base: str, clients: int = 50, seconds: float = 5.0) -> dict[str, float]:
    """``POST /uploads`` from ``clients`` concurrent keep-alive connections."""
    match = re.match(r"http://([^:/]+):(\d+)", base)
    assert match is not None
    host, port = match.group(1), int(match.group(2))
    asyncio.run(_hammer(host, port, clients, 0.5))  # warm-up
    start = time.perf_counter()
    times = asyncio.run(_hammer(host, port, clients, seconds))
    elapsed = time.perf_counter() - start
    return {
        "clients": clients,
        "requests": len(times),
        "per_s": len(times) / elapsed,
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": percentile(times, 0.99) * 1000,
    }


# Orthanc, inside its own network namespace.


def orthanc_inner(files_dir: Path, clients: int) -> None:
    """Runs under ``unshare -n``: loopback up, Orthanc started, ingest + preview timed."""
    with orthanc_in_this_namespace() as base:
        files = sorted(files_dir.glob("*.dcm"))
        local = threading.local()

        def one(path: Path) -> None:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            stored = session.post(f"{base}/instances", data=path.read_bytes(), timeout=60)
            stored.raise_for_status()
            preview = session.get(f"{base}/instances/{stored.json()['ID']}/preview", timeout=60)
            assert preview.content.startswith(b"\x89PNG")

        with requests.Session() as warm:  # same warm-up as ours: a few instances first
            for path in files[:4]:
                warm.post(f"{base}/instances", data=path.read_bytes(), timeout=60)
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, files))
        elapsed = time.perf_counter() - start
        print(json.dumps({"n": len(files), "seconds": elapsed, "per_s": len(files) / elapsed}))


def orthanc_ingest(files_dir: Path, clients: int) -> dict[str, float] | None:
    """Orthanc's ingest + preview figures, or None when it cannot run here."""
    return run_in_own_network(
        __file__, ["--orthanc-inner", str(files_dir), "--clients", str(clients)]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--latency-samples", type=int, default=50)
    parser.add_argument("--clients", type=int, default=16, help="ingest clients (both systems)")
    parser.add_argument("--compare-workers", action="store_true")
    parser.add_argument("--skip-orthanc", action="store_true")
    parser.add_argument("--orthanc-inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.orthanc_inner:
        orthanc_inner(args.orthanc_inner, args.clients)
        return 0
    figures: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        root = Path(tmp)
        files = make_ct_instances(args.instances, root / "instances")
        kinds = ("process", "thread") if args.compare_workers else ("process",)
        for kind in kinds:
            with served(root / f"data-{kind}", worker_kind=kind) as base:
                if kind == "process":
                    figures["latency_ct512"] = latency(base, files[: args.latency_samples])
                    figures["create_upload_50_clients"] = create_upload_load(base)
                figures[f"ingest_{kind}_workers"] = ingest(base, files, args.clients)
        with served(root / "data-default", analyzers=None) as base:
            figures["latency_ct512_default_analyzers"] = latency(base, files[:20])
        if not args.skip_orthanc:
            figures["orthanc_ingest"] = orthanc_ingest(root / "instances", args.clients)
    ours = figures["ingest_process_workers"]["per_s"]
    theirs = (figures.get("orthanc_ingest") or {}).get("per_s")
    if theirs:
        figures["ingest_ratio_vs_orthanc"] = ours / theirs
    lat = figures["latency_ct512"]
    load = figures["create_upload_50_clients"]
    print(
        f"upload -> COMPLETED, 512x512 CT: p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms"
    )
    full = figures["latency_ct512_default_analyzers"]
    print(
        f"  with the default offline analyzers (OCR, classifier, faces): "
        f"p50 {full['p50_ms']:.1f} ms, p95 {full['p95_ms']:.1f} ms"
    )
    for kind in kinds:
        got = figures[f"ingest_{kind}_workers"]
        print(f"ingest+preview ({kind} workers): {got['per_s']:.1f} instances/s over {got['n']}")
        cpu = got["cpu_ms_per_instance"]
        print(
            f"  CPU per instance: workers {cpu['workers']:.1f} ms, HTTP {cpu['http']:.1f} ms,"
            f" clients {cpu['client']:.1f} ms; GET /jobs per instance"
            f" {got['job_polls_per_instance']:.2f}"
        )
    if theirs:
        print(f"Orthanc ingest+preview: {theirs:.1f} instances/s  (ratio {ours / theirs:.2f}x)")
    print(
        f"POST /uploads, {load['clients']} clients: {load['per_s']:.0f} req/s, "
        f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms"
    )
    figures["load_after"] = os.getloadavg()[0]
    print(f"load average before/after: {figures['load_before']:.1f} / {figures['load_after']:.1f}")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
