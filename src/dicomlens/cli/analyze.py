"""``dicomlens analyze PATH... [--out DIR] [--format json|csv] [--workers N] [--include-phi]``.

Writes, per input file, ``<name>.json`` (summary, labels, findings, error; the ``phi`` block,
with the patient's tags and the text OCR read from the pixels, only with ``--include-phi``,
as the results API hides it unless enabled) plus the preview
and thumbnail PNGs into ``--out``, an index (``results.json`` or ``results.csv``), and prints
a summary table. Exit 0 when every file succeeded, 1 when any failed, 2 for usage errors,
130 when interrupted.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import io
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydicom.data import get_testdata_file

from dicomlens import bootstrap
from dicomlens.analysis.pipeline import AnalysisOptions, analyze_file
from dicomlens.cli.file_runner import (
    USAGE_ERROR,
    SummaryLine,
    count_lines,
    exit_code,
    failure_lines,
    input_files,
    output_error,
    output_names,
    print_summary,
    run_files,
    time_line,
    write_output,
)
from dicomlens.cli.timed_batch import ItemResult
from dicomlens.config import Settings
from dicomlens.domain.errors import DicomlensError, ErrorCode, error_body

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
    parser.add_argument(
        "--include-phi",
        action="store_true",
        help="also write the patient's identifying tags and the OCR text (the phi block)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``analyze``; return the exit code."""
    # pydicom's example files are looked up only when asked for (a walk of its data folders)
    wanted = EXAMPLES if args.examples else ()
    examples = [Path(str(p)) for p in map(get_testdata_file, wanted) if p]
    files = input_files("analyze", args.paths, workers=args.workers, extra=examples)
    if files is None:
        return USAGE_ERROR
    settings = Settings()
    options = bootstrap.analysis_options(settings)
    if args.presets:
        options = dataclasses.replace(options, window_presets=True)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    names = output_names(files)
    start = time.monotonic()
    rows, interrupted = run_files(
        [(str(f), names[f]) for f in files],
        functools.partial(
            _analyze_one, options=options, out=str(out), include_phi=args.include_phi
        ),
        workers=args.workers,
        timeout_s=settings.processing_time_limit_s(),
        to_row=functools.partial(_row, out=out),
    )
    seconds = time.monotonic() - start
    try:
        index = _write_index(rows, out, args.format)
    except OSError as exc:
        _print_summary(rows, seconds, out, None, interrupted, total=len(files))
        print(f"dicomlens analyze: the index: {output_error(exc)}", file=sys.stderr)  # noqa: T201
        return 1
    _print_summary(rows, seconds, out, index.name, interrupted, total=len(files))
    return exit_code(rows, interrupted)


def _analyze_one(
    item: tuple[str, str], *, options: AnalysisOptions, out: str, include_phi: bool = False
) -> dict[str, Any]:
    """Worker side: analyse one file and write its JSON and PNGs. Returns a small row."""
    path, name = item
    folder = Path(out)
    try:
        analysis = analyze_file(Path(path), options)
    except DicomlensError as exc:
        document: dict[str, Any] = {"file": path, "status": "failed", **exc.body()}
        try:
            write_output(folder / f"{name}.json", json.dumps(document, indent=2))
        except OSError as write_error:
            return _unwritten(write_error)
        return {"status": "failed", "code": str(exc.code), "message": exc.message}
    written = {}
    result = analysis.result.to_json_dict()
    if not include_phi:
        result.pop("phi", None)
    try:
        for image_name, data in analysis.images.items():
            target = folder / f"{name}.{image_name}"
            write_output(target, data)
            written[image_name] = target.name
        document = {
            "file": path,
            "status": "ok",
            "result": result,
            "images": written,
            "error": None,
        }
        write_output(folder / f"{name}.json", json.dumps(document, indent=2))
    except OSError as exc:  # a full disk: this file's outputs are incomplete, so not kept
        for image in written.values():
            (folder / image).unlink(missing_ok=True)
        return _unwritten(exc)
    summary: dict[str, Any] = analysis.result.summary.to_json_dict()
    return {
        "status": "ok",
        "modality": summary.get("modality") or analysis.result.kind.upper(),
        "has_image": analysis.result.has_image,
        "labels": ", ".join(label.name for label in analysis.result.labels),
        "json": f"{name}.json",
    }


def _unwritten(exc: OSError) -> dict[str, Any]:
    """The row of a file whose results could not be written (none of them is kept)."""
    return {"status": "failed", "code": str(ErrorCode.INTERNAL), "message": output_error(exc)}


def _row(result: ItemResult, *, out: Path) -> dict[str, Any]:
    """Parent side: the index row of one file; writes the file's JSON when its worker could
    not (it was killed over the time limit, or died)."""
    path, name = result.item
    row: dict[str, Any] = {"file": path, "seconds": round(result.seconds, 4)}
    if result.value is not None:
        row.update(result.value)
    else:
        code, message = str(result.error_code), str(result.error_message)
        row.update(status="failed", code=result.error_code, message=result.error_message)
        document = {"file": path, "status": "failed", **error_body(code, message)}
        try:
            write_output(out / f"{name}.json", json.dumps(document, indent=2))
        except OSError as exc:
            row["message"] = f"{message}; {output_error(exc)}"
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
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        write_output(target, text.getvalue())
        return target
    target = out / "results.json"
    write_output(target, json.dumps(rows, indent=2))
    return target


def _print_summary(
    rows: list[dict[str, Any]],
    seconds: float,
    out: Path,
    index: str | None,
    interrupted: bool,
    *,
    total: int,
) -> None:
    lines = count_lines(rows, total=total, done="analysed", interrupted=interrupted)
    modalities = Counter(str(r.get("modality")) for r in rows if r["status"] == "ok")
    lines.extend(SummaryLine(f"  {m}", str(n)) for m, n in sorted(modalities.items()))
    lines.extend(failure_lines(rows))
    lines.append(time_line(rows, seconds))
    where = "no index written" if index is None else f"index: {index}"
    print_summary(lines, f"results in {out.resolve()} ({where})")
