# ruff: noqa: S101 - a benchmark script: asserts check answers
"""DICOMweb beside Orthanc + DICOMweb plugin, in one ``unshare -n`` run over >= 500 CT slices.

Runnable on its own: ``python bench/bench_dicomweb.py [--instances 500]``. Both servers
run inside one network namespace (Orthanc listens on every interface); each gets the same
512x512 CT instances through STOW-RS (timed; ours also queues each instance's analysis,
and the timings below start once those analyses have finished: Orthanc does no such work),
then:

1. QIDO-RS study search latency (median, p95 over ``--queries`` searches);
2. series /metadata latency (median, p95 over ``--metadata-repeats`` requests);
3. frames/s: /frames/1 of every instance (``transfer-syntax=*``, as OHIF asks), 8 clients;
4. rendered/s: /rendered as JPEG of every instance, 8 clients; then again with
   ``window=40,400,linear`` (ours keeps the default rendering of each instance when it processes
   it; a window parameter makes every request render).

The table gives ours vs Orthanc as a factor where higher is better for us (goal >= 2x).
Until our server answers ``/dicomweb/studies`` (not 404) our column reads "n/a".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from peers import make_ct_instances, run_in_own_network
from pydicom import dcmread

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from dicomweb_conformance import Target, answers
from dicomweb_peer import orthanc_dicomweb, our_dicomweb

CLIENTS = 8
FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
LINES = (
    ("stow_s", "STOW of every instance, s", "latency"),
    ("qido_study_ms", "QIDO study search, median ms", "latency"),
    ("qido_study_p95_ms", "QIDO study search, p95 ms", "latency"),
    ("series_metadata_ms", "series metadata, median ms", "latency"),
    ("series_metadata_p95_ms", "series metadata, p95 ms", "latency"),
    ("frames_per_s", f"frames/s, {CLIENTS} clients", "rate"),
    ("rendered_per_s", f"rendered/s, {CLIENTS} clients", "rate"),
    ("rendered_window_per_s", f"rendered/s, windowed, {CLIENTS} clients", "rate"),
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(call: Callable[[], None], repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` sequential calls."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return seconds


def concurrent_rate(urls: list[str], accept: str) -> float:
    """GETs per second over ``urls`` from ``CLIENTS`` keep-alive clients (each answer 200)."""
    local = threading.local()

    def one(url: str) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        response = session.get(url, headers={"Accept": accept}, timeout=60)
        assert response.status_code == 200, (url, response.status_code)
        assert response.content

    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, urls))
    return len(urls) / (time.perf_counter() - start)


def analysed(target: Target, datasets: list[Any], timeout: float = 600) -> None:
    """Wait until every instance's analysis job (ours: preview, labels ... after STOW) has
    finished, so that the timings below measure DICOMweb, not the analyses running beside
    it (Orthanc does no such work)."""
    deadline = time.monotonic() + timeout
    with requests.Session() as session:
        for ds in datasets:
            while True:
                job = session.get(f"{target.instance_url(ds)}/analysis", timeout=60)
                assert job.status_code == 200, job.status_code
                if job.json()["status"] in ("COMPLETED", "FAILED"):
                    break
                assert time.monotonic() < deadline, "the analyses did not finish"
                time.sleep(0.2)


def measure(
    root: str, files: list[Path], queries: int, metadata_repeats: int, *, ours: bool = False
) -> dict[str, float]:
    """Store ``files`` through STOW (ours: and wait for their analyses), then time the four
    DICOMweb operations."""
    target = Target.at(root, timeout=300)
    datasets = [dcmread(path) for path in files]
    start_store = time.perf_counter()
    for start in range(0, len(datasets), 25):
        response = target.client.store_instances(datasets[start : start + 25])
        assert len(response.ReferencedSOPSequence) == len(datasets[start : start + 25])
    stored_s = time.perf_counter() - start_store
    if ours:
        analysed(target, datasets)
    first = datasets[0]
    study, series = first.StudyInstanceUID, first.SeriesInstanceUID
    session = requests.Session()

    def search() -> None:
        found = session.get(
            f"{root}/studies",
            params={"PatientID": first.PatientID},
            headers={"Accept": "application/dicom+json"},
            timeout=60,
        )
        assert found.status_code == 200
        assert found.json()

    def metadata() -> None:
        got = session.get(
            f"{root}/studies/{study}/series/{series}/metadata",
            headers={"Accept": "application/dicom+json"},
            timeout=300,
        )
        assert got.status_code == 200
        assert len(got.json()) == len(datasets)

    search()
    metadata()  # warm caches on both sides alike
    searches = timed(search, queries)
    metadatas = timed(metadata, metadata_repeats)
    instances = [target.instance_url(ds) for ds in datasets]
    return {
        "stow_s": stored_s,
        "qido_study_ms": statistics.median(searches) * 1000,
        "qido_study_p95_ms": percentile(searches, 0.95) * 1000,
        "series_metadata_ms": statistics.median(metadatas) * 1000,
        "series_metadata_p95_ms": percentile(metadatas, 0.95) * 1000,
        "frames_per_s": concurrent_rate([f"{u}/frames/1" for u in instances], FRAMES_ACCEPT),
        "rendered_per_s": concurrent_rate([f"{u}/rendered" for u in instances], "image/jpeg"),
        # a window parameter: no kept rendition can answer, every request renders
        "rendered_window_per_s": concurrent_rate(
            [f"{u}/rendered?window=40,400,linear" for u in instances], "image/jpeg"
        ),
    }


def inner(files_dir: Path, queries: int, metadata_repeats: int) -> dict[str, Any]:
    """Inside ``unshare -n``: both servers, the same figures for each (ours: None while
    its DICOMweb service answers 404)."""
    files = sorted(files_dir.glob("*.dcm"))
    figures: dict[str, Any] = {"instances": len(files)}
    with tempfile.TemporaryDirectory(prefix="bench-dicomweb-") as tmp:
        with orthanc_dicomweb() as root:
            figures["orthanc"] = measure(root, files, queries, metadata_repeats)
        with our_dicomweb(Path(tmp) / "data") as root:
            available = answers(root)
            figures["ours"] = (
                measure(root, files, queries, metadata_repeats, ours=True) if available else None
            )
    return figures


def table(figures: dict[str, Any]) -> str:
    """The side-by-side table: Orthanc, ours, and ours vs Orthanc (higher is better)."""
    theirs, ours = figures["orthanc"], figures.get("ours")
    rows = [f"{'':34} {'Orthanc':>10} {'ours':>10} {'ours vs Orthanc':>16}"]
    for key, label, kind in LINES:
        mine = "n/a" if ours is None else f"{ours[key]:10.1f}"
        if ours is None:
            factor = "n/a"
        else:
            ratio = theirs[key] / ours[key] if kind == "latency" else ours[key] / theirs[key]
            factor = f"{ratio:.2f}x {'ok' if ratio >= 2 else 'below 2x'}"
        rows.append(f"{label:34} {theirs[key]:10.1f} {mine:>10} {factor:>16}")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--metadata-repeats", type=int, default=20)
    parser.add_argument("--inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner(args.inner, args.queries, args.metadata_repeats)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-dicomweb-") as tmp:
        files_dir = Path(tmp) / "instances"
        make_ct_instances(args.instances, files_dir)
        figures = run_in_own_network(
            __file__,
            [
                "--inner",
                str(files_dir),
                "--queries",
                str(args.queries),
                "--metadata-repeats",
                str(args.metadata_repeats),
            ],
        )
    if figures is None:
        print("Orthanc, its DICOMweb plugin or unshare is missing, or the run failed")
        return 1
    print(table(figures))
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
