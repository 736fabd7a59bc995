"""The ``dicomlens`` command: analyze, deidentify, serve, deploy, destroy, redrive,
index-open-jobs.

Each subcommand lives in its own module of this package that exposes
``add_parser(subparsers)``; the parser's ``run`` default returns the exit code. Exit codes:
0 all succeeded, 1 some input failed, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that contribute subcommands. A module that cannot be imported (an optional
# extra that is not installed) is left out of the command.
SUBCOMMAND_MODULES = (
    "dicomlens.cli.analyze",
    "dicomlens.cli.serve",
    "dicomlens.cli.deploy",
    "dicomlens.cli.deidentify",
    "dicomlens.cli.redrive",
    "dicomlens.cli.index_jobs",
    "dicomlens.cli.viewer",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="dicomlens", description="Upload and analyse medical images (DICOM, PNG, JPEG)."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)  # noqa: T201
        return 130
    return code
