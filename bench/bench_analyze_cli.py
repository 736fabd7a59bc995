"""``dicomlens analyze`` of a folder of CT slices beside DCMTK's ``dcmj2pnm`` run once per file.

    .venv/bin/python bench/bench_analyze_cli.py [--files 300] [--repeat 3]

The files are ``--files`` distinct 512x512 CT slices (pydicom-data ``693_UNCI.dcm`` with a
new SOP Instance UID each; no burned-in text). Timed, as whole commands (process start,
model loading and the worker pool included), best of ``--repeat``:

* ``dicomlens analyze DIR --out OUT`` with the analyzers off (``DICOMLENS_ANALYZERS=``):
  decode, window, preview and thumbnail PNGs, metadata, the index;
* the same with the default settings (the local mode's offline analyzers: the classifier and
  the face detector are skipped on grayscale CT by their declared scope, the OCR runs);
* ``dcmj2pnm +on +Wi 1`` (first window, PNG) once per file, one after the other, and the
  same two at a time (both cores), as ``xargs -P 2`` would.

The dicomlens package is byte-compiled first (``python -m compileall``), as ``pip install``
leaves it: with PYTHONDONTWRITEBYTECODE=1 (set on these machines) an editable checkout would
compile its modules again at every start, about 0.1 s of each command.

Ratios are files/s of ours over files/s of dcmj2pnm, measured in the same run. The goals
of issue 16 are against dcmj2pnm once per file: >= 5x with the analyzers off, >= 1.5x with
the default settings. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from peers import make_ct_instances

import dicomlens

BIN = Path(sys.executable).parent


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without DICOMLENS_* settings (the embedded defaults), plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DICOMLENS_")}
    env.update(extra)
    return env


def time_analyze(folder: Path, out: Path, env: dict[str, str]) -> float:
    """Seconds of one ``dicomlens analyze`` of ``folder`` (its output folder emptied first)."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "dicomlens"), "analyze", str(folder), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"dicomlens analyze failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def time_dcmj2pnm(tool: str, files: list[Path], out: Path, parallel: int) -> float:
    """Seconds of ``dcmj2pnm`` run once per file, ``parallel`` at a time."""
    out.mkdir(parents=True, exist_ok=True)

    def one(path: Path) -> None:
        done = subprocess.run(
            [tool, "+on", "+Wi", "1", str(path), str(out / f"{path.stem}.png")],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"dcmj2pnm failed on {path.name}: {done.stderr[-500:]!r}")

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tool = shutil.which("dcmj2pnm")
    package = Path(dicomlens.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    with tempfile.TemporaryDirectory(prefix="dicomlens-bench-analyze-") as tmp:
        root = Path(tmp)
        files = make_ct_instances(args.files, root / "ct")
        runs: dict[str, list[float]] = {}
        for _ in range(args.repeat):  # interleaved: drift hits every command alike
            runs.setdefault("analyzers off", []).append(
                time_analyze(root / "ct", root / "out", _clean_env(DICOMLENS_ANALYZERS=""))
            )
            runs.setdefault("default settings", []).append(
                time_analyze(root / "ct", root / "out", _clean_env())
            )
            if tool is not None:
                runs.setdefault("dcmj2pnm per file", []).append(
                    time_dcmj2pnm(tool, files, root / "png", parallel=1)
                )
                runs.setdefault("dcmj2pnm per file, 2 at a time", []).append(
                    time_dcmj2pnm(tool, files, root / "png", parallel=2)
                )
    count = len(files)
    rates = {name: count / min(seconds) for name, seconds in runs.items()}
    print(
        f"{count} distinct 512x512 CT slices, {os.cpu_count()} cores, best of {args.repeat} "
        "whole commands (process start included)"
    )
    for name, rate in rates.items():
        print(f"{name:<32}{rate:8.1f} files/s")
    if tool is None:
        print("dcmj2pnm not installed (Debian's dcmtk): no ratios")
        return
    for ours, goal in (("analyzers off", 5.0), ("default settings", 1.5)):
        serial = rates[ours] / rates["dcmj2pnm per file"]
        both = rates[ours] / rates["dcmj2pnm per file, 2 at a time"]
        verdict = "met" if serial >= goal else "missed"
        print(
            f"{ours}: {serial:.2f}x dcmj2pnm per file (goal >= {goal}x: {verdict}); "
            f"{both:.2f}x dcmj2pnm 2 at a time"
        )


if __name__ == "__main__":
    main()
