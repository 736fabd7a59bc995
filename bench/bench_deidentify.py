"""De-identification throughput for 512x512 CT (pydicom-data ``693_UNCI.dcm``) and a cine.

Prints the per-file time in one process and files/s on all cores (``dicomlens deidentify``'s
worker pool), attributes only (pixel text search off: what Orthanc's /anonymize does) and
with the burned-in text search plus the verification of the output (every frame, every
rendering, 0/90/270 degrees); beside Orthanc's ``POST /instances/{id}/anonymize`` over the
same instances in the same run when Debian's ``orthanc`` is installed (run inside
``unshare -n`` with its own loopback, since it listens on all interfaces). The anchor from
the issue: Orthanc's /anonymize took 21.5 ms per instance on the same kind of machine.

Then frames/s of the text search plus verification of a generated 100-frame 512x512 cine
with text on a few frames (the search's threads = ``--workers``), beside what the earlier
sampled search cost in the same run (OCR of a min-max rendering of 3 frames), and the cost
of one detector run on a 512x512 image (the unit the search is made of).

    python bench/bench_deidentify.py [--files 200] [--workers 2] [--ocr-files 20]
        [--cine-frames 100]
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

import numpy as np
import requests
from peers import CT_SLICE, make_ct_instances, orthanc_in_this_namespace, run_in_own_network
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

from dicomlens.cli.timed_batch import run_batch
from dicomlens.config import Settings
from dicomlens.deid import ProfileOptions, deidentify_file
from dicomlens.deid.text import ocr_text_locator
from dicomlens.deid.text_search import ocr_text_finder
from dicomlens.imaging.limits import ImagingLimits

CT = CT_SLICE
ORTHANC_MS_PER_INSTANCE = 21.5


@functools.cache
def _locator(ocr: bool) -> object:
    return ocr_text_finder() if ocr else None


def make_cine(path: Path, frames: int, text_frames: tuple[int, ...]) -> Path:
    """A ``frames``-frame 512x512 8-bit cine whose picture moves from frame to frame (no two
    frames alike), with a name burned into ``text_frames`` only."""
    rng = np.random.default_rng(7)
    font = ImageFont.load_default(size=18)
    stack = np.empty((frames, 512, 512), dtype=np.uint8)
    for index in range(frames):
        img = Image.new("L", (512, 512), 0)
        draw = ImageDraw.Draw(img)
        shift = 40 * np.sin(index / 8)
        draw.pieslice((56, -200 + shift, 456, 460 + shift), 60, 120, fill=70)
        draw.ellipse((200 + shift, 200, 300 + shift, 290), fill=140)
        if index in text_frames:
            draw.text((20, 470), "BENCH^PATIENT 1961-07-04", fill=230, font=font)
        noisy = np.asarray(img, dtype=np.int16) + rng.integers(-12, 13, (512, 512))
        stack[index] = np.clip(noisy, 0, 255)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "US", "BENCH^PATIENT", "BENCH1"
    ds.Rows = ds.Columns = 512
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = stack.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def cine_figures(folder: Path, frames: int, workers: int) -> None:
    """Frames/s of the search plus verification of a cine, and the anchors of the same run."""
    from pydicom import dcmread  # noqa: PLC0415

    from dicomlens.imaging.decode import read_image  # noqa: PLC0415
    from dicomlens.imaging.render import MIN_MAX, render  # noqa: PLC0415

    limits = Settings().imaging_limits()
    text_frames = tuple(sorted({frames // 10, frames * 37 // 100, frames * 7 // 10}))
    cine = make_cine(folder / "cine.dcm", frames, text_frames)
    finder = ocr_text_finder()
    if finder is None:
        raise SystemExit("the OCR analyzer is not installed")
    probe = np.random.default_rng(1).integers(0, 256, (512, 512), dtype=np.uint8)
    finder.detect(probe)
    start = time.perf_counter()
    for _ in range(5):
        finder.detect(probe)
    detect_ms = (time.perf_counter() - start) / 5 * 1000
    print(f"one detector run on a 512x512 image: {detect_ms:.0f} ms (1 thread)")
    options = ProfileOptions(secret=b"bench", pixel_text="required")
    start = time.perf_counter()
    report = deidentify_file(
        cine,
        folder / "cine-out.dcm",
        options,
        limits=limits,
        locator=finder,
        search_workers=workers,
    )
    elapsed = time.perf_counter() - start
    if len(dcmread(report.output).pixel_array) != frames:
        raise SystemExit("the de-identified cine lost frames")
    rate = frames / elapsed
    print(
        f"{frames}-frame 512x512 cine, text on frames {[f + 1 for f in text_frames]}: text "
        f"search + verification {rate:.1f} frames/s with {workers} threads "
        f"({elapsed:.1f} s for the file, {report.text_regions} text regions found)"
    )
    old = ocr_text_locator()
    if old is None:
        raise SystemExit("the OCR analyzer is not installed")
    sampled = sorted({round(i) for i in np.linspace(0, frames - 1, 3)})
    start = time.perf_counter()
    for index in sampled:
        old(render(read_image(cine, limits=limits, frame=index), window=MIN_MAX).pixels)
    old_rate = len(sampled) / (time.perf_counter() - start)
    print(
        f"earlier sampled search (full OCR of one min-max rendering of {len(sampled)} frames, "
        f"no verification): {old_rate:.1f} frames/s of the frames it looked at, 1 thread; "
        f"every frame now: {rate / old_rate:.2f}x that rate"
    )


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
    parser.add_argument("--cine-frames", type=int, default=100)
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
        if ocr_text_finder() is None:
            print("OCR analyzer not installed: pixel text search not measured")
            return
        ocr_options = ProfileOptions(secret=b"bench", pixel_text="required")
        rate = _throughput(files[: args.ocr_files], out, args.workers, ocr_options, ocr=True)
        print(
            f"512x512 CT with text search + verification of the pixels, {args.workers} "
            f"workers: {rate:.2f} files/s over {args.ocr_files} files"
        )
        cine_figures(folder, args.cine_frames, args.workers)


if __name__ == "__main__":
    main()
