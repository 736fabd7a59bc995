"""Running one command over many files: input checks, the worker pool, progress, summary.

Shared by ``dicomlens analyze`` and ``dicomlens deidentify``. Progress goes to stderr: a
``rich`` progress bar with rate and ETA on a terminal, one plain ``[n/total] file: status``
line per file otherwise. The summary goes to stdout: a ``rich`` table on a terminal, plain
aligned lines otherwise (no colour, no control characters). Exit codes: 0 every file
succeeded, 1 some failed, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dicomlens.cli.timed_batch import ItemResult, Task, run_batch

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

USAGE_ERROR = 2
INTERRUPTED = 130


def write_output(target: Path, data: bytes | str) -> None:
    """Write ``target`` whole or not at all: a temporary file beside it, renamed into place.

    A full disk (or any error) leaves no partial output behind and raises the OSError.
    """
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def output_error(exc: OSError) -> str:
    """What a failed output write says (the system's words, never a path: paths may be
    patients' names)."""
    return f"the results could not be written ({exc.strerror or type(exc).__name__})"


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
    to_row: Callable[[ItemResult], dict[str, Any]],
) -> tuple[list[dict[str, Any]], bool]:
    """Run ``task`` over ``(path, output name)`` items with progress on stderr.

    A file's progress is shown only after ``to_row`` has recorded it. Returns the rows sorted
    by file and whether the user interrupted (Ctrl-C stops the workers; the rows done so far
    are kept).
    """
    progress = FileProgress(total=len(items), stream=sys.stderr)
    rows: list[dict[str, Any]] = []
    interrupted = False
    try:
        for result in run_batch(items, task, workers=workers, timeout_s=timeout_s):
            row = to_row(result)
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


@dataclass(frozen=True)
class SummaryLine:
    """One line of a command's summary: a label, a right-aligned value, an optional note."""

    label: str
    value: str
    note: str = ""


def count_lines(
    rows: list[dict[str, Any]], *, total: int, done: str, interrupted: bool
) -> list[SummaryLine]:
    """The summary's counts: files, ``done`` (succeeded), failed, and not done if
    interrupted."""
    ok = sum(1 for r in rows if r["status"] == "ok")
    lines = [
        SummaryLine("files", str(total)),
        SummaryLine(done, str(ok)),
        SummaryLine("failed", str(len(rows) - ok)),
    ]
    if interrupted:
        lines.append(SummaryLine("not done (interrupted)", str(total - len(rows))))
    return lines


def failure_lines(rows: list[dict[str, Any]]) -> list[SummaryLine]:
    """Summary lines: failures per error code."""
    counts = Counter(str(r.get("code")) for r in rows if r["status"] != "ok")
    return [SummaryLine(f"  failed {code}", str(n)) for code, n in sorted(counts.items())]


def time_line(rows: list[dict[str, Any]], seconds: float) -> SummaryLine:
    """The summary's wall time and rate."""
    rate = len(rows) / seconds if seconds > 0 else 0.0
    return SummaryLine("time", f"{seconds:.1f}s", f" ({rate:.1f} files/s)")


# What makes rich treat a stream that is not a TTY as a terminal.
_RICH_TERMINAL_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


def terminal_console(stream: TextIO) -> Console | None:
    """A rich console on ``stream`` when rich sees a terminal there, else None.

    rich (a fifth of a command's start) is imported only when the stream is a TTY or the
    environment tells rich to treat it as one: pipes and log files get plain lines without it.
    """
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()) and not any(
        name in os.environ for name in _RICH_TERMINAL_VARIABLES
    ):
        return None
    from rich.console import Console  # noqa: PLC0415 - see the docstring

    console = Console(file=stream, highlight=False)
    return console if console.is_terminal else None


def print_summary(lines: list[SummaryLine], footer: str, *, stream: TextIO | None = None) -> None:
    """Print the summary to stdout: a table on a terminal, plain aligned lines otherwise."""
    out = stream or sys.stdout
    console = terminal_console(out)
    if console is None:
        text = "\n".join(f"{ln.label:<24}{ln.value:>8}{ln.note}" for ln in lines)
        out.write(f"\n{text}\n{footer}\n")
        out.flush()
        return
    from rich import box  # noqa: PLC0415 - a terminal only (terminal_console)
    from rich.table import Table  # noqa: PLC0415

    table = Table(box=box.SIMPLE, show_header=False, pad_edge=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("note")
    for line in lines:
        table.add_row(line.label, line.value, line.note.strip())
    console.print(table)
    console.print(footer, markup=False)


class FileProgress:
    """A ``rich`` progress bar with rate and ETA on a terminal; one plain line per file
    otherwise (so logs and pipes get no control characters)."""

    def __init__(self, *, total: int, stream: TextIO) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.start = time.monotonic()
        console = terminal_console(stream)
        self._bar: Progress | None = None
        if console is not None:
            from rich.progress import (  # noqa: PLC0415 - a terminal only (terminal_console)
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:6.1f} files/s"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                # No refresh thread: the pool forks workers while the bar is shown, and a
                # thread holding a lock at fork time would leave it held in the child.
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._task = self._bar.add_task("files", total=total, rate=0.0)
            self._bar.start()
            self._bar.refresh()

    def advance(self, row: dict[str, Any]) -> None:
        """Count one recorded file."""
        self.done += 1
        if self._bar is not None:
            rate = self.done / max(time.monotonic() - self.start, 1e-9)
            self._bar.update(self._task, advance=1, rate=rate)
            self._bar.refresh()
            return
        status = (
            "ok" if row["status"] == "ok" else f"FAILED {row.get('code')}: {row.get('message')}"
        )
        self.stream.write(f"[{self.done}/{self.total}] {row['file']}: {status}\n")
        self.stream.flush()

    def finish(self) -> None:
        """Leave the finished bar on screen (a terminal) and end its line."""
        if self._bar is not None:
            self._bar.stop()
