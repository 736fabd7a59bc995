"""Running one command over many files: input checks, the worker pool, progress, exit code.

Shared by ``dicomlens analyze`` and ``dicomlens deidentify``. Exit codes: 0 every file
succeeded, 1 some failed, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from dicomlens.analysis.batch import Outcome, Task, run_batch

USAGE_ERROR = 2
INTERRUPTED = 130


def collect_files(paths: list[Path], *, extra: Sequence[Path] = ()) -> list[Path]:
    """Files under ``paths`` (folders recursively, hidden entries skipped), then ``extra``,
    without duplicates. Raises FileNotFoundError for a path that does not exist."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    files.extend(extra)
    return list(dict.fromkeys(files))


def output_names(files: list[Path]) -> dict[Path, str]:
    """A distinct, filesystem-safe output stem per input file."""
    names: dict[Path, str] = {}
    used: Counter[str] = Counter()
    for path in files:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name).strip("._") or "file"
        used[stem] += 1
        names[path] = stem if used[stem] == 1 else f"{stem}-{used[stem]}"
    return names


def input_files(
    command: str, paths: list[Path], *, workers: int, extra: Sequence[Path] = ()
) -> list[Path] | None:
    """The files to process, or None after printing a usage error for ``command``."""
    problem = None
    try:
        files = collect_files(paths, extra=extra)
    except FileNotFoundError as exc:
        problem, files = str(exc), []
    if problem is None and workers < 1:
        problem = "--workers must be at least 1"
    if problem is None and not files:
        problem = "no input files"
    if problem is not None:
        print(f"dicomlens {command}: {problem}", file=sys.stderr)  # noqa: T201
        return None
    return files


def run_files(
    items: Sequence[tuple[str, str]],
    task: Task,
    *,
    workers: int,
    timeout_s: float,
    to_row: Callable[[Outcome], dict[str, Any]],
) -> tuple[list[dict[str, Any]], bool]:
    """Run ``task`` over ``(path, output name)`` items with progress on stderr.

    Returns the rows sorted by file and whether the user interrupted (Ctrl-C stops the
    workers; the rows done so far are kept).
    """
    progress = Progress(total=len(items), stream=sys.stderr)
    rows: list[dict[str, Any]] = []
    interrupted = False
    try:
        for outcome in run_batch(items, task, workers=workers, timeout_s=timeout_s):
            row = to_row(outcome)
            rows.append(row)
            progress.advance(row)
    except KeyboardInterrupt:
        interrupted = True
    progress.finish()
    rows.sort(key=lambda r: str(r["file"]))
    return rows, interrupted


def exit_code(rows: list[dict[str, Any]], interrupted: bool) -> int:
    """130 when interrupted, 1 when any file failed, else 0."""
    if interrupted:
        return INTERRUPTED
    return 1 if any(r["status"] != "ok" for r in rows) else 0


def failure_counts(rows: list[dict[str, Any]]) -> list[str]:
    """Summary lines: failures per error code."""
    counts = Counter(str(r.get("code")) for r in rows if r["status"] != "ok")
    return [f"  failed {code:<15}{count:>8}" for code, count in sorted(counts.items())]


class Progress:
    """A progress bar with rate and ETA on a terminal; one plain line per file otherwise."""

    def __init__(self, *, total: int, stream: TextIO) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.tty = stream.isatty()
        self.start = time.monotonic()

    def advance(self, row: dict[str, Any]) -> None:
        self.done += 1
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        if self.tty:
            width = 30
            filled = int(width * self.done / self.total)
            eta = (self.total - self.done) / rate if rate else 0.0
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"{rate:6.1f} files/s  ETA {eta:5.1f} s "
            )
        else:
            status = (
                "ok" if row["status"] == "ok" else f"FAILED {row.get('code')}: {row.get('message')}"
            )
            self.stream.write(f"[{self.done}/{self.total}] {row['file']}: {status}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
