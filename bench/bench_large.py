"""Large images: the preview of a 4096 x 5120 mammogram (16-bit words, 12 bits stored).

For JPEG 2000 lossless, HTJ2K lossless and native data, each in its own fresh process:

- **reduced**: ``analyze_file`` as shipped (no analyzers): the frame is decoded at the
  resolution the 1024-pixel preview needs (J2K/HTJ2K resolution levels, native block
  means), then windowed, resized and encoded (preview + thumbnail PNGs);
- **full**: the same, with the frame decoded whole (``decode_side`` forced to None);
- **GDCM + DCMTK**: ``gdcmconv --raw`` then ``dcmj2pnm`` (file window, 1024-pixel PNG),
  two processes, as a user without dicomlens would do it.

Then the same files analysed with the default analyzers (classifier, faces, OCR), each
process timing its second ``analyze_file`` (the first loads the models):

- **as shipped**: analyzers the header rules out (the photographs-only classifier and face
  detector on this MONOCHROME2 mammogram) do not enlarge the decode: 1280 px here;
- **every analyzer counted**: ``decode_side`` without the header, as before: the
  classifier's 2560 px.

Prints the median wall time of 3 interleaved runs and each process's peak RSS.
Run: ``make bench`` (or ``python bench/bench_large.py``). Asserts nothing.
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from corpus.large_images import (
    htj2k_codestream,
    image_dataset,
    mammogram,
    save_htj2k,
    save_j2k,
)

ROWS, COLUMNS = 5120, 4096
REPEATS = 3

CHILD = r"""
import json, sys, time
from pathlib import Path
import dicomlens.analysis.pipeline as pipeline
path, mode = Path(sys.argv[1]), sys.argv[2]
if mode == "full":
    pipeline.decode_side = lambda analyzers, header=None: None
start = time.perf_counter()
analysis = pipeline.analyze_file(path)
elapsed = time.perf_counter() - start
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child would report the
# parent's peak at fork time.
status = Path("/proc/self/status").read_text()
peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
print(json.dumps({
    "seconds": elapsed,
    "rss_mb": peak_kb / 1024,
    "preview": list(analysis.result.preview_size or ()),
}))
"""

ANALYZERS_CHILD = r"""
import json, sys, time
from pathlib import Path
import dicomlens.analysis.pipeline as pipeline
from dicomlens.analysis.analyzers import build_analyzers
from dicomlens.config import Settings
path, mode = Path(sys.argv[1]), sys.argv[2]
if mode == "every analyzer counted":
    shipped = pipeline.decode_side
    pipeline.decode_side = lambda analyzers, header=None: shipped(analyzers)
options = pipeline.AnalysisOptions(analyzers=build_analyzers(Settings().analyzer_selection()))
pipeline.analyze_file(path, options)
start = time.perf_counter()
analysis = pipeline.analyze_file(path, options)
elapsed = time.perf_counter() - start
print(json.dumps({
    "seconds": elapsed,
    "skipped": [skip.name for skip in analysis.result.skipped_analyzers],
}))
"""

TOOLS = r"""
import json, resource, subprocess, sys, time
source, raw, png = sys.argv[1:4]
start = time.perf_counter()
subprocess.run(["gdcmconv", "--raw", source, raw], check=True, capture_output=True)
subprocess.run(
    ["dcmj2pnm", "--write-png", "--use-window", "1", "--scale-y-size", "1024", raw, png],
    check=True, capture_output=True,
)
elapsed = time.perf_counter() - start
print(json.dumps({
    "seconds": elapsed,
    "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def make_files(folder: Path) -> dict[str, Path]:
    source = mammogram(ROWS, COLUMNS)
    ds = image_dataset(source, bits_stored=12)
    ds.WindowCenter, ds.WindowWidth = 2000, 3000
    native = folder / "native.dcm"
    ds.save_as(native, enforce_file_format=True)
    return {
        "JPEG 2000 lossless": save_j2k(ds, folder / "j2k.dcm"),
        "HTJ2K lossless": save_htj2k(ds, htj2k_codestream(source), folder / "htj2k.dcm"),
        "native": native,
    }


def run_child(code: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    tools = shutil.which("gdcmconv") and shutil.which("dcmj2pnm")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = make_files(folder)
        print(f"{ROWS} x {COLUMNS} mammogram, 12 bits stored in 16; medians of {REPEATS} runs")
        print(
            f"{'file':<20} {'size MB':>8} {'reduced s':>10} {'full s':>8} {'ratio':>6}"
            f" {'RSS red.':>9} {'RSS full':>9} {'GDCM+DCMTK s':>13} {'RSS':>6} {'ratio':>6}"
        )
        for name, path in files.items():
            runs: dict[str, list[dict[str, float]]] = {"reduced": [], "full": [], "tools": []}
            for _ in range(REPEATS):
                runs["reduced"].append(run_child(CHILD, str(path), "reduced"))
                runs["full"].append(run_child(CHILD, str(path), "full"))
                if tools:
                    try:
                        raw, png = str(folder / "raw.dcm"), str(folder / "p.png")
                        out = run_child(TOOLS, str(path), raw, png)
                    except subprocess.CalledProcessError:
                        out = {}
                    if out:
                        runs["tools"].append(out)
            reduced = statistics.median(r["seconds"] for r in runs["reduced"])
            full = statistics.median(r["seconds"] for r in runs["full"])
            rss_reduced = max(r["rss_mb"] for r in runs["reduced"])
            rss_full = max(r["rss_mb"] for r in runs["full"])
            if runs["tools"]:
                peer = statistics.median(r["seconds"] for r in runs["tools"])
                peer_rss = max(r["rss_mb"] for r in runs["tools"])
                peer_text = f"{peer:>13.3f} {peer_rss:>6.0f} {peer / reduced:>5.1f}x"
            else:
                peer_text = f"{'(cannot decode)' if tools else '(not installed)':>27}"
            size = path.stat().st_size / 1e6
            print(
                f"{name:<20} {size:>8.1f} {reduced:>10.3f} {full:>8.3f} {full / reduced:>5.1f}x"
                f" {rss_reduced:>8.0f}M {rss_full:>8.0f}M {peer_text}"
            )
        print("ratio: how many times faster the reduced preview is; RSS: each process's peak")
        with_analyzers(files)
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    return 0


def with_analyzers(files: dict[str, Path]) -> None:
    """The default analyzers' analysis, decode sized by the header or by every analyzer."""
    modes = ("as shipped", "every analyzer counted")
    print(f"\nwith the default analyzers (second analyze_file of a process), medians of {REPEATS}")
    print(f"{'file':<20} {modes[0] + ' s':>14} {modes[1] + ' s':>26} {'ratio':>6}  skipped")
    for name, path in files.items():
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        for _ in range(REPEATS):
            for mode in modes:
                runs[mode].append(run_child(ANALYZERS_CHILD, str(path), mode))
        shipped, before = (statistics.median(r["seconds"] for r in runs[mode]) for mode in modes)
        skipped = ", ".join(runs[modes[0]][0]["skipped"])
        print(f"{name:<20} {shipped:>14.3f} {before:>26.3f} {before / shipped:>5.1f}x  {skipped}")


if __name__ == "__main__":
    start = time.perf_counter()
    status = main()
    print(f"({time.perf_counter() - start:.0f} s)")
    sys.exit(status)
