"""``dicomlens analyze PATH... [--out DIR] [--format json|csv] [--workers N]``.

Writes, per input file, ``<name>.json`` (summary, labels, findings, error) plus the preview
and thumbnail PNGs into ``--out``, an index (``results.json`` or ``results.csv``), and prints
a summary table. Exit 0 when every file succeeded, 1 when any failed, 2 for usage errors,
130 when interrupted.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from pydicom.data import get_testdata_file

from dicomlens.analysis.batch import Outcome, run_batch
from dicomlens.analysis.pipeline import AnalysisOptions, analyze_file
from dicomlens.config import Settings
from dicomlens.domain.errors import DicomlensError

# pydicom's documentation examples (pydicom.examples), minus ``no_meta``, which is not a
# readable dataset (pydicom itself parses it as one unknown element).
EXAMPLES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "examples_jpeg2k.dcm",
    "examples_overlay.dcm",
    "examples_palette.dcm",
    "examples_rgb_color.dcm",
    "examples_ybr_color.dcm",
    "rtdose.dcm",
    "rtplan.dcm",
    "rtstruct.dcm",
    "waveform_ecg.dcm",
    "DICOMDIR",
)


def add_parser(subparsers: Any) -> None:
    """Register the ``analyze`` subcommand."""
    parser = subparsers.add_parser(
        "analyze",
        help="analyse files and folders into previews and JSON results",
        description="Analyse DICOM, PNG and JPEG files (folders are searched recursively).",
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    parser.add_argument(
        "--out", type=Path, default=Path("out"), help="output folder (default: out)"
    )
    parser.add_argument("--format", choices=("json", "csv"), default="json", help="index format")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)"
    )
    parser.add_argument(
        "--examples",
        action="store_true",
        help="also analyse the example files shipped with pydicom",
    )
    parser.add_argument(
        "--presets",
        action="store_true",
        help="also write CT window-preset previews (soft tissue, lung, bone, brain)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``analyze``; return the exit code."""
    try:
        files = _collect(args.paths, examples=args.examples)
    except FileNotFoundError as exc:
        print(f"dicomlens analyze: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    if args.workers < 1:
        print("dicomlens analyze: --workers must be at least 1", file=sys.stderr)  # noqa: T201
        return 2
    if not files:
        print("dicomlens analyze: no input files (give PATHs or --examples)", file=sys.stderr)  # noqa: T201
        return 2
    settings = Settings()
    options = settings.analysis_options()
    if args.presets:
        options = dataclasses.replace(options, window_presets=True)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    names = _output_names(files)
    task = functools.partial(_analyze_one, options=options, out=str(out))
    progress = Progress(total=len(files), stream=sys.stderr)
    rows: list[dict[str, Any]] = []
    start = time.monotonic()
    interrupted = False
    try:
        for outcome in run_batch(
            [(str(f), names[f]) for f in files],
            task,
            workers=args.workers,
            timeout_s=options.limits.decode_timeout_s + 5,
        ):
            row = _row(outcome, out)
            rows.append(row)
            progress.advance(row)
    except KeyboardInterrupt:
        interrupted = True
    progress.finish()
    rows.sort(key=lambda r: str(r["file"]))
    index = _write_index(rows, out, args.format)
    _print_summary(rows, time.monotonic() - start, index, interrupted, total=len(files))
    if interrupted:
        return 130
    return 1 if any(r["status"] != "ok" for r in rows) else 0


def _collect(paths: list[Path], *, examples: bool) -> list[Path]:
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
    if examples:
        for name in EXAMPLES:
            found = get_testdata_file(name)
            if found:
                files.append(Path(str(found)))
    return list(dict.fromkeys(files))


def _output_names(files: list[Path]) -> dict[Path, str]:
    """A distinct, filesystem-safe output stem per input file."""
    names: dict[Path, str] = {}
    used: Counter[str] = Counter()
    for path in files:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name).strip("._") or "file"
        used[stem] += 1
        names[path] = stem if used[stem] == 1 else f"{stem}-{used[stem]}"
    return names


def _analyze_one(item: tuple[str, str], *, options: AnalysisOptions, out: str) -> dict[str, Any]:
    """Worker side: analyse one file and write its JSON and PNGs. Returns a small row."""
    path, name = item
    folder = Path(out)
    try:
        analysis = analyze_file(Path(path), options)
    except DicomlensError as exc:
        document: dict[str, Any] = {"file": path, "status": "failed", "error": exc.as_dict()}
        (folder / f"{name}.json").write_text(json.dumps(document, indent=2))
        return {"status": "failed", "code": str(exc.code), "message": exc.message}
    written = {}
    for image_name, data in analysis.images.items():
        target = folder / f"{name}.{image_name}"
        target.write_bytes(data)
        written[image_name] = target.name
    result = analysis.result.to_json_dict()
    document = {"file": path, "status": "ok", "result": result, "images": written, "error": None}
    (folder / f"{name}.json").write_text(json.dumps(document, indent=2))
    summary: dict[str, Any] = analysis.result.summary.to_json_dict()
    return {
        "status": "ok",
        "modality": summary.get("modality") or analysis.result.kind.upper(),
        "has_image": analysis.result.has_image,
        "labels": ", ".join(label.name for label in analysis.result.labels),
        "json": f"{name}.json",
    }


def _row(outcome: Outcome, out: Path) -> dict[str, Any]:
    path, name = outcome.item
    row: dict[str, Any] = {"file": path, "seconds": round(outcome.seconds, 4)}
    if outcome.value is not None:
        row.update(outcome.value)
    else:
        row.update(status="failed", code=outcome.error_code, message=outcome.error_message)
        document = {
            "file": path,
            "status": "failed",
            "error": {"code": outcome.error_code, "message": outcome.error_message},
        }
        (out / f"{name}.json").write_text(json.dumps(document, indent=2))
    return row


def _write_index(rows: list[dict[str, Any]], out: Path, fmt: str) -> Path:
    if fmt == "csv":
        target = out / "results.csv"
        columns = [
            "file",
            "status",
            "modality",
            "has_image",
            "labels",
            "code",
            "message",
            "seconds",
            "json",
        ]
        with target.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        return target
    target = out / "results.json"
    target.write_text(json.dumps(rows, indent=2))
    return target


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


def _print_summary(
    rows: list[dict[str, Any]], seconds: float, index: Path, interrupted: bool, *, total: int
) -> None:
    ok = sum(1 for r in rows if r["status"] == "ok")
    failed = len(rows) - ok
    lines = [
        "",
        f"{'files':<24}{total:>8}",
        f"{'analysed':<24}{ok:>8}",
        f"{'failed':<24}{failed:>8}",
    ]
    if interrupted:
        lines.append(f"{'not done (interrupted)':<24}{total - len(rows):>8}")
    for modality, count in sorted(
        Counter(str(r.get("modality")) for r in rows if r["status"] == "ok").items()
    ):
        lines.append(f"  {modality:<22}{count:>8}")
    for code, count in sorted(
        Counter(str(r.get("code")) for r in rows if r["status"] != "ok").items()
    ):
        lines.append(f"  failed {code:<15}{count:>8}")
    rate = len(rows) / seconds if seconds > 0 else 0.0
    lines.append(f"{'time':<24}{seconds:>7.1f}s ({rate:.1f} files/s)")
    lines.append(f"results in {index.parent.resolve()} (index: {index.name})")
    print("\n".join(lines))  # noqa: T201
