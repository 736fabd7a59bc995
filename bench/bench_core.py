"""Core benchmark: full analyze of 512x512 CT, per file and on every core, beside DCMTK;
peak memory for a 1 GB multi-frame file.

Run: ``make bench`` (or ``python bench/bench_core.py``). Prints figures; asserts nothing.
"""

from __future__ import annotations

import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import data_store  # pydicom-data

from dicomlens.analysis.pipeline import AnalysisOptions, analyze_file
from dicomlens.cli.analyze import _analyze_one
from dicomlens.cli.timed_batch import run_batch

sys.path.insert(0, str(Path(__file__).parent))
from bigfile import write_multiframe

DATA = Path(data_store.__file__).parent / "data"
CT_FILES = ("693_UNCI.dcm", "693_J2KR.dcm")
OPTIONS = AnalysisOptions(window_presets=False)


def per_file(path: Path, repeat: int = 40) -> float:
    """Median seconds of a full analyze (decode, window, preview, thumbnail, metadata)."""
    analyze_file(path, OPTIONS)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        analyze_file(path, OPTIONS)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(path: Path, count: int, workers: int) -> float:
    """Files per second for ``count`` copies of ``path`` through the analyze worker pool."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        items = []
        for index in range(count):
            copy = folder / f"{index:04d}.dcm"
            shutil.copyfile(path, copy)
            items.append((str(copy), f"{index:04d}"))
        out = folder / "out"
        out.mkdir()
        task = functools.partial(_analyze_one, options=OPTIONS, out=str(out))
        start = time.perf_counter()
        outcomes = list(run_batch(items, task, workers=workers, timeout_s=60))
        elapsed = time.perf_counter() - start
        failed = [o for o in outcomes if o.value is None or o.value.get("status") != "ok"]
        if failed:
            print(f"  {len(failed)} failures, first: {failed[0]}")
        return count / elapsed


def dcmtk_per_file(path: Path, repeat: int = 20) -> float | None:
    """Median seconds of ``dcmj2pnm +Wi 1 +on`` (full-size PNG) on ``path``."""
    tool = shutil.which("dcmj2pnm")
    if tool is None:
        return None
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            start = time.perf_counter()
            done = subprocess.run(
                [tool, "+on", "+Wi", "1", str(path), f"{tmp}/x.png"],
                capture_output=True,
                check=False,
            )
            times.append(time.perf_counter() - start)
            if done.returncode:
                return None
    return statistics.median(times)


def peak_memory_multiframe(frames: int = 2000) -> tuple[int, float]:
    """(file bytes, peak RSS MiB) of analysing a generated multi-frame file in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.dcm"
        size = write_multiframe(path, frames=frames)
        code = (
            "import sys\n"
            "from pathlib import Path\n"
            "from dicomlens.analysis.pipeline import analyze_file\n"
            "analyze_file(Path(sys.argv[1]))\n"
            "status = Path('/proc/self/status').read_text().splitlines()\n"
            "print(next(l.split()[1] for l in status if l.startswith('VmHWM:')))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
        )
        return size, int(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    cores = os.cpu_count() or 1
    print(f"== core: full analyze of 512x512 CT ({cores} cores) ==")
    for name in CT_FILES:
        path = DATA / name
        ours = per_file(path)
        print(f"{name:14s} one process: {ours * 1000:6.1f} ms/file ({1 / ours:6.1f} files/s)")
        rate = throughput(path, 500, workers=cores)
        print(f"{name:14s} {cores} workers, 500 files: {rate:6.1f} files/s")
        reference = dcmtk_per_file(path)
        if reference is None:
            print(f"{name:14s} dcmj2pnm: cannot decode this transfer syntax")
        else:
            print(
                f"{name:14s} dcmj2pnm per file (process start included): {reference * 1000:6.1f} ms"
            )
    size, peak = peak_memory_multiframe()
    print(f"multi-frame {size / 2**30:.2f} GiB file: peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
