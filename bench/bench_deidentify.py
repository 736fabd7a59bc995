"""De-identification throughput for 512x512 CT (pydicom-data ``693_UNCI.dcm``).

Prints the per-file time in one process and files/s on all cores (``dicomlens deidentify``'s
worker pool), attributes only (pixel text search off: what Orthanc's /anonymize does) and
with OCR of the pixels. The anchor from the issue: Orthanc's /anonymize took 21.5 ms per
instance on the same kind of machine.

    python bench/bench_deidentify.py [--files 200] [--workers 2] [--ocr-files 20]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
import time
from pathlib import Path

import data_store

from dicomlens.analysis.batch import run_batch
from dicomlens.config import Settings
from dicomlens.deid import ProfileOptions, deidentify_file
from dicomlens.deid.text import ocr_text_locator
from dicomlens.imaging.limits import ImagingLimits

CT = Path(data_store.__file__).parent / "data" / "693_UNCI.dcm"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--ocr-files", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = folder / "in"
        inputs.mkdir()
        files = []
        for index in range(args.files):
            target = inputs / f"ct{index:04d}.dcm"
            shutil.copyfile(CT, target)
            files.append(target)
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
