"""De-identification throughput for 512x512 CT (pydicom-data ``693_UNCI.dcm``).

Prints the per-file time in one process and files/s on all cores (``dicomlens deidentify``'s
worker pool), attributes only (pixel text search off: what Orthanc's /anonymize does) and
with OCR of the pixels; beside Orthanc's ``POST /instances/{id}/anonymize`` over the same
instances in the same run when Debian's ``orthanc`` is installed (run inside ``unshare -n``
with its own loopback, since it listens on all interfaces). The anchor from the issue:
Orthanc's /anonymize took 21.5 ms per instance on the same kind of machine.

    python bench/bench_deidentify.py [--files 200] [--workers 2] [--ocr-files 20]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from peers import CT_SLICE, make_ct_instances, orthanc_in_this_namespace, run_in_own_network

from dicomlens.cli.timed_batch import run_batch
from dicomlens.config import Settings
from dicomlens.deid import ProfileOptions, deidentify_file
from dicomlens.deid.text import ocr_text_locator
from dicomlens.imaging.limits import ImagingLimits

CT = CT_SLICE
ORTHANC_MS_PER_INSTANCE = 21.5


@functools.cache
def _locator(ocr: bool) -> object:
    return ocr_text_locator() if ocr else None


def _one(
    item: tuple[str, str], *, options: ProfileOptions, limits: ImagingLimits, ocr: bool
) -> dict[str, object]:
    source, target = item
    deidentify_file(
        Path(source),
        Path(target),
        options,
        limits=limits,
        locator=_locator(ocr),  # type: ignore[arg-type]
    )
    return {}


def _throughput(
    files: list[Path], out: Path, workers: int, options: ProfileOptions, *, ocr: bool
) -> float:
    limits = Settings().imaging_limits()
    task = functools.partial(_one, options=options, limits=limits, ocr=ocr)
    items = [(str(f), str(out / f.name)) for f in files]
    start = time.perf_counter()
    failures = [o for o in run_batch(items, task, workers=workers, timeout_s=120) if o.error_code]
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} files failed: {failures[0].error_message}")
    return len(files) / elapsed


def orthanc_inner(files_dir: Path, clients: int) -> None:
    """Runs under ``unshare -n``: store the instances, then time /anonymize of each."""
    with orthanc_in_this_namespace() as base:
        with requests.Session() as session:
            ids = [
                session.post(f"{base}/instances", data=p.read_bytes(), timeout=60).json()["ID"]
                for p in sorted(files_dir.glob("*.dcm"))
            ]
            session.post(f"{base}/instances/{ids[0]}/anonymize", json={}, timeout=60)
        local = threading.local()

        def one(instance: str) -> None:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            answer = session.post(f"{base}/instances/{instance}/anonymize", json={}, timeout=60)
            answer.raise_for_status()

        start = time.perf_counter()
        for instance in ids[:50]:
            one(instance)
        per_file_ms = (time.perf_counter() - start) / min(50, len(ids)) * 1000
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, ids))
        elapsed = time.perf_counter() - start
        print(json.dumps({"n": len(ids), "ms": per_file_ms, "per_s": len(ids) / elapsed}))


def orthanc_anonymize(files_dir: Path, clients: int) -> dict[str, float] | None:
    """Orthanc's figures, or None when Orthanc (or unshare) is not available."""
    return run_in_own_network(
        __file__, ["--orthanc-inner", str(files_dir), "--workers", str(clients)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--ocr-files", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--orthanc-inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.orthanc_inner:
        orthanc_inner(args.orthanc_inner, args.workers)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = folder / "in"
        inputs.mkdir()
        files = make_ct_instances(args.files, inputs)
        options = ProfileOptions(secret=b"bench", pixel_text="off")
        limits = Settings().imaging_limits()
        deidentify_file(files[0], folder / "warm.dcm", options, limits=limits)
        start = time.perf_counter()
        for source in files[:50]:
            deidentify_file(source, folder / "one.dcm", options, limits=limits)
        per_file_ms = (time.perf_counter() - start) / 50 * 1000
        print(f"512x512 CT ({CT.name}), attributes only: {per_file_ms:.1f} ms per file, 1 process")
        print(f"Orthanc /anonymize (anchor from the issue): {ORTHANC_MS_PER_INSTANCE} ms/instance")
        out = folder / "out"
        out.mkdir()
        rate = _throughput(files, out, args.workers, options, ocr=False)
        print(f"attributes only, {args.workers} workers: {rate:.0f} files/s, {len(files)} files")
        theirs = orthanc_anonymize(inputs, args.workers)
        if theirs is None:
            print("Orthanc not available: /anonymize not measured in this run")
        else:
            print(
                f"Orthanc /anonymize in this run: {theirs['ms']:.1f} ms per instance, "
                f"{theirs['per_s']:.0f} instances/s with {args.workers} clients "
                f"(ratio {rate / theirs['per_s']:.2f}x)"
            )
        if ocr_text_locator() is None:
            print("OCR analyzer not installed: pixel text search not measured")
            return
        ocr_options = ProfileOptions(secret=b"bench", pixel_text="required", ocr_frames=1)
        rate = _throughput(files[: args.ocr_files], out, args.workers, ocr_options, ocr=True)
        print(
            f"with OCR of the pixels, {args.workers} workers: {rate:.1f} files/s over "
            f"{args.ocr_files} files"
        )


if __name__ == "__main__":
    main()
