"""Peak RSS per bomb of the local server and its workers.

Starts ``dicomlens serve`` (two process workers, the OCR analyzer, a 4 s decode limit by
default), processes and de-identifies a normal 512 x 512 CT three times as the baseline, then
uploads every file of tests/corpus/bombs.py one after another as the page does, and prints per
file: the job's end, its time, and the peak RSS of the server side (server and HTTP processes)
and of the workers while it ran. A process over baseline + 1000 MB is killed to protect the
machine (marked "killed by the guard").

    PYTHONPATH=src python bench/bench_bombs.py [--only NAME ...] [--decode-timeout 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

from bomb_run import MB, FileRun, normal_ct, run_file  # noqa: E402
from local_server import start  # noqa: E402
from process_tree import MemorySampler, wait_for_workers  # noqa: E402

from corpus.bombs import BOMBS  # noqa: E402

GUARD_MB = 1000


def main() -> int:
    """Run the baseline and the bombs; print one line per file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="bomb names to run")
    parser.add_argument("--decode-timeout", type=float, default=4.0)
    parser.add_argument("--analyzers", default="ocr", help="DICOMLENS_ANALYZERS for the server")
    args = parser.parse_args()
    cases = [c for c in BOMBS if not args.only or c.name in args.only]
    env = {
        "DICOMLENS_DECODE_TIMEOUT_S": str(args.decode_timeout),
        "DICOMLENS_ANALYZERS": args.analyzers,
    }
    wait_s = args.decode_timeout + 10
    with tempfile.TemporaryDirectory(prefix="bench-bombs-") as tmp:
        server = start(Path(tmp) / "data", env=env, workers=2)
        port = int(server.url.rsplit(":", 1)[1])
        sampler = MemorySampler(server=server.process.pid, port=port)
        try:
            wait_for_workers(server.process.pid, port, 2)
            sampler.start()
            ct = normal_ct()
            runs: list[FileRun] = []
            for i in range(3):
                run = run_file(
                    server,
                    sampler,
                    name=f"ct512_{i}.dcm",
                    content_type="application/dicom",
                    data=ct,
                    wait_s=60,
                    deidentify_dicom=True,
                )
                runs.append(run)
                print(run.line(), flush=True)
            legitimate = max(run.peak_kib() for run in runs)
            sampler.guard_kib = legitimate + GUARD_MB * MB
            print(f"baseline peak {legitimate // MB} MB; bound (+300 MB) {legitimate // MB + 300}")
            for case in cases:
                run = run_file(
                    server,
                    sampler,
                    name=case.name,
                    content_type=case.content_type,
                    data=case.build(),
                    wait_s=wait_s,
                    deidentify_dicom=case.is_dicom,
                )
                guard = " killed by the guard" if sampler.guard_kills else ""
                sampler.guard_kills.clear()
                print(run.line() + guard, flush=True)
        finally:
            sampler.stop()
            server.kill_hard()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
