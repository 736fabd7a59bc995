"""``make bench``: run every benchmark that exists and print its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ORDER = (
    "bench_core.py",
    "bench_large.py",
    "bench_local.py",
    "bench_analyzers.py",
    "bench_analyze_cli.py",
    "bench_deidentify.py",
    "bench_text_detector.py",
    "bench_table_coverage.py",
    "bench_cold_start.py",
    "bench_dicomweb.py",
    "bench_viewer.py",
    "capacity_sim.py",
)


def main() -> int:
    status = 0
    for name in ORDER:
        script = HERE / name
        if script.exists():
            print(f"\n### {name}", flush=True)
            status |= subprocess.run([sys.executable, str(script)], check=False).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
