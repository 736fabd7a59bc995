"""Offline analyzers: per-analyzer latency on a 512x512 image, and pipeline throughput with
every analyzer on.

    .venv/bin/python bench/bench_analyzers.py [--repeat 20] [--files 40] [--workers 2]
                                             [--only latency|throughput]

Latency: median (and p90) of ``--repeat`` calls after one warm-up call (which loads the
model), one process, onnxruntime with 1 and with 2 intra-op threads. Inputs: the classifier
and the face detector get Grace Hopper's portrait (matplotlib sample data) resized to
512x512; OCR gets a generated 512x512 CT-like frame with four lines of burned-in text.
Throughput: ``--files`` generated 512x512 CT DICOM files (with burned-in text), analysed
end to end (decode, window, PNGs, metadata, tag labels, classifier, faces, OCR) by
``--workers`` processes with 1 thread per session; each worker warms its models first.
The load average is printed: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

try:
    import matplotlib
except ImportError:  # pragma: no cover - dev dependency
    sys.exit("bench_analyzers needs matplotlib (the dev extra) for its sample images")

from dicomlens.analysis.analyzers import AnalyzerSelection, build_analyzers
from dicomlens.analysis.pipeline import AnalysisOptions, analyze_file
from dicomlens.domain.results import ImageSummary, PhiFields
from dicomlens.ports import Analyzer, AnalyzerInput

MPL_DATA = Path(matplotlib.__file__).parent / "mpl-data"
FONT = MPL_DATA / "fonts" / "ttf" / "DejaVuSans.ttf"
NAMES = ("classifier", "faces", "ocr")


def portrait_512() -> np.ndarray:
    picture = Image.open(MPL_DATA / "sample_data" / "grace_hopper.jpg").convert("RGB")
    return np.asarray(picture.resize((512, 512), Image.Resampling.BICUBIC))


def text_frame_512() -> np.ndarray:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:512, 0:512]
    body = ((yy - 256) / 190.0) ** 2 + ((xx - 256) / 220.0) ** 2 <= 1
    pixels = np.where(body, 110 + rng.normal(0, 12, (512, 512)), 4).clip(0, 255)
    picture = Image.fromarray(pixels.astype(np.uint8), mode="L")
    draw = ImageDraw.Draw(picture)
    font = ImageFont.truetype(str(FONT), 16)
    for row, line in enumerate(("DOE^JOHN", "ID 1234567", "DOB 03/15/1970")):
        draw.text((10, 8 + 22 * row), line, fill=255, font=font)
    draw.text((390, 488), "W 400 L 40", fill=255, font=font)
    return np.asarray(picture)


def _timed(call: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Wall-clock median and p90, and median CPU time of this process, in ms."""
    call()  # warm-up: loads the model
    times = []
    cpu = []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    times.sort()
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
    return statistics.median(times), p90, statistics.median(cpu)


def latency(repeat: int) -> None:
    phi = PhiFields(patient_name="DOE^JOHN", patient_id="1234567", patient_birth_date="19700315")
    photo = AnalyzerInput(pixels=portrait_512(), kind="jpeg", summary=ImageSummary(), phi=phi)
    text = AnalyzerInput(
        pixels=text_frame_512(), kind="dicom", summary=ImageSummary(modality="CT"), phi=phi
    )
    inputs = {"classifier": photo, "faces": photo, "ocr": text}
    print("per-analyzer latency on 512x512 (ms: wall median / wall p90 / CPU median)")
    print("  (with 1 thread, CPU time is what the wall time is on an idle core)")
    for threads in (1, 2):
        analyzers = build_analyzers(AnalyzerSelection(names=NAMES, threads=threads))
        for analyzer in analyzers:
            frame = inputs[analyzer.name]
            median, p90, cpu = _timed(lambda a=analyzer, f=frame: a.analyze(f), repeat)
            print(
                f"  {analyzer.name:<10} threads={threads}  {median:7.1f} / {p90:7.1f} / {cpu:7.1f}"
            )


def _write_ct(folder: Path, count: int) -> list[Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pydicom.uid import CTImageStorage  # noqa: PLC0415

    from corpus.generate import attach_grey, new_dataset, to_bytes  # noqa: PLC0415

    text = text_frame_512() > 200
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:512, 0:512]
    body = ((yy - 256) / 200.0) ** 2 + ((xx - 256) / 230.0) ** 2 <= 1
    paths = []
    for index in range(count):
        hu = np.where(body, 40 + rng.normal(0, 15, (512, 512)), -1000)
        hu = np.where(text, 1500, hu)
        ds = new_dataset(CTImageStorage, 8000 + index, "CT")
        ds.PatientName = "DOE^JOHN"
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.WindowCenter, ds.WindowWidth = 40, 400
        attach_grey(ds, np.rint(hu + 1024).clip(0, 4095).astype(np.uint16), bits_stored=12)
        path = folder / f"ct{index:03d}.dcm"
        path.write_bytes(to_bytes(ds))
        paths.append(path)
    return paths


_OPTIONS: AnalysisOptions | None = None


def _warm(analyzers: tuple[Analyzer, ...]) -> None:
    global _OPTIONS  # noqa: PLW0603 - one per worker process
    _OPTIONS = AnalysisOptions(analyzers=analyzers)
    frame = AnalyzerInput(
        pixels=text_frame_512(), kind="dicom", summary=ImageSummary(), phi=PhiFields()
    )
    for analyzer in analyzers:
        analyzer.analyze(frame)


def _analyze(path: Path) -> int:
    if _OPTIONS is None:
        raise RuntimeError("worker not initialised")
    return len(analyze_file(path, _OPTIONS).result.findings)


def throughput(files: int, workers: int) -> None:
    analyzers = build_analyzers(AnalyzerSelection(names=NAMES, threads=1))
    with tempfile.TemporaryDirectory() as folder:
        paths = _write_ct(Path(folder), files)
        # spawn, not fork: this process already runs onnxruntime and OpenCV thread pools,
        # which a forked child inherits in an unusable state.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_warm, initargs=(analyzers,)
        ) as pool:
            list(pool.map(_analyze, paths[:workers]))  # every worker is warm
            start = time.perf_counter()
            findings = list(pool.map(_analyze, paths))
            elapsed = time.perf_counter() - start
    if not all(count > 0 for count in findings):
        raise RuntimeError("a file with burned-in text gave no finding")
    print(
        f"pipeline with {', '.join(NAMES)} on {files} CT 512x512 files, {workers} workers: "
        f"{files / elapsed:.2f} files/s ({elapsed / files * 1000:.0f} ms per file per worker "
        f"pool slot: {elapsed / files * workers * 1000:.0f} ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", choices=("latency", "throughput"), default=None)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    if args.only != "throughput":
        latency(args.repeat)
    if args.only != "latency":
        throughput(args.files, args.workers)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
