"""``dicomlens deidentify PATH... --out DIR [--workers N] [--longitudinal off|full|shifted]
[--pixel-text required|auto|off] [--keep-names]``.

Writes, per input file, a de-identified ``<new SOP Instance UID>.dcm`` into ``--out`` (never a
name derived from the input's, which often names the patient; the original is only read),
an index ``deidentified.json`` (per file: output or error code, the input as a keyed hash of
its path, or the path itself with ``--keep-names``), and prints a summary.
Options not given on the command line come from the ``DICOMLENS_DEID_*`` settings. Exit 0
when every file was de-identified, 1 when any failed, 2 for usage errors, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from dicomlens import bootstrap
from dicomlens.cli.file_runner import (
    USAGE_ERROR,
    SummaryLine,
    count_lines,
    exit_code,
    failure_lines,
    input_files,
    output_error,
    print_summary,
    run_files,
    time_line,
    write_output,
)
from dicomlens.cli.timed_batch import ItemResult
from dicomlens.config import Settings
from dicomlens.deid import ProfileOptions, deidentify_file
from dicomlens.deid.outputs import input_reference, pending_name, place_output
from dicomlens.deid.text_search import ocr_text_finder
from dicomlens.domain.errors import DicomlensError
from dicomlens.imaging.limits import ImagingLimits

INDEX = "deidentified.json"


def add_parser(subparsers: Any) -> None:
    """Register the ``deidentify`` subcommand."""
    parser = subparsers.add_parser(
        "deidentify",
        help="write de-identified copies of DICOM files (PS3.15 Basic Profile, text redaction)",
        description="De-identify DICOM files and folders (searched recursively) into --out.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)"
    )
    parser.add_argument(
        "--longitudinal",
        choices=("off", "full", "shifted"),
        help="retain dates: off (removed), full, or shifted per patient",
    )
    parser.add_argument(
        "--pixel-text",
        choices=("required", "auto", "off"),
        help="search pixels for burned-in text with OCR (required: fail when OCR is missing)",
    )
    parser.add_argument(
        "--keep-names",
        action="store_true",
        help="show input paths in the index and progress (default: a keyed hash of each path)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``deidentify``; return the exit code."""
    files = input_files("deidentify", args.paths, workers=args.workers)
    if files is None:
        return USAGE_ERROR
    out: Path = args.out
    if any(out.resolve() in path.resolve().parents for path in files):
        print("dicomlens deidentify: --out must not hold input files", file=sys.stderr)  # noqa: T201
        return USAGE_ERROR
    out.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    options = settings.deid_options(bootstrap.deid_key(settings))
    if args.longitudinal:
        options = dataclasses.replace(options, longitudinal=args.longitudinal)
    if args.pixel_text:
        options = dataclasses.replace(options, pixel_text=args.pixel_text)
    limits = settings.imaging_limits()
    start = time.monotonic()
    shown = {
        str(f): str(f) if args.keep_names else input_reference(str(f), options.secret)
        for f in files
    }
    rows, interrupted = run_files(
        [(str(f), pending_name(index)) for index, f in enumerate(files)],
        functools.partial(_deidentify_one, options=options, limits=limits, out=str(out)),
        workers=args.workers,
        timeout_s=limits.decode_timeout_s * 2 + 30,
        to_row=functools.partial(_row, shown=shown),
    )
    seconds = time.monotonic() - start
    try:
        write_output(out / INDEX, json.dumps(rows, indent=2))
    except OSError as exc:
        _print_summary(rows, seconds, out, interrupted, total=len(files), index=None)
        print(f"dicomlens deidentify: the index: {output_error(exc)}", file=sys.stderr)  # noqa: T201
        return 1
    _print_summary(rows, seconds, out, interrupted, total=len(files))
    return exit_code(rows, interrupted)


# The OCR engine is built once per worker process, on first use.
@functools.cache
def _locator(pixel_text: str) -> Any:
    return None if pixel_text == "off" else ocr_text_finder()


def _deidentify_one(
    item: tuple[str, str], *, options: ProfileOptions, limits: ImagingLimits, out: str
) -> dict[str, Any]:
    """Worker side: de-identify one file. Returns a small row (no patient data)."""
    path, pending = item
    try:
        report = deidentify_file(
            Path(path),
            Path(out) / pending,
            options,
            limits=limits,
            locator=_locator(options.pixel_text),
        )
    except DicomlensError as exc:
        return {"status": "failed", "code": str(exc.code), "message": exc.message}
    output = place_output(report.output, report.sop_instance_uid)
    return {
        "status": "ok",
        "output": output.name,
        "redacted": report.pixels_redacted,
        "textRegions": report.text_regions,
        "transferSyntax": report.transfer_syntax,
    }


def _row(result: ItemResult, *, shown: dict[str, str]) -> dict[str, Any]:
    path, _ = result.item
    row: dict[str, Any] = {"file": shown[path], "seconds": round(result.seconds, 4)}
    if result.value is not None:
        row.update(result.value)
    else:
        row.update(status="failed", code=result.error_code, message=result.error_message)
    return row


def _print_summary(
    rows: list[dict[str, Any]],
    seconds: float,
    out: Path,
    interrupted: bool,
    *,
    total: int,
    index: str | None = INDEX,
) -> None:
    lines = count_lines(rows, total=total, done="de-identified", interrupted=interrupted)
    redacted = sum(1 for r in rows if r["status"] == "ok" and r.get("redacted"))
    lines.insert(2, SummaryLine("  pixels redacted", str(redacted)))
    lines.extend(failure_lines(rows))
    lines.append(time_line(rows, seconds))
    where = "no index written" if index is None else f"index: {index}"
    print_summary(lines, f"de-identified files in {out.resolve()} ({where})")
