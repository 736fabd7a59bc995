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

# The module that registers each command. A module that cannot be imported (an optional
# extra that is not installed) is left out of the command. A command line naming one of
# these first loads only that module: the others' imports (the deploy tooling, the viewer,
# de-identification) cost a tenth of a second that a command does not need.
COMMAND_MODULES = {
    "analyze": "dicomlens.cli.analyze",
    "serve": "dicomlens.cli.serve",
    "deploy": "dicomlens.cli.deploy",
    "destroy": "dicomlens.cli.deploy",
    "deidentify": "dicomlens.cli.deidentify",
    "redrive": "dicomlens.cli.redrive",
    "index-open-jobs": "dicomlens.cli.index_jobs",
    "viewer": "dicomlens.cli.viewer",
}
# Every module that contributes subcommands, once each, in the order of the help.
SUBCOMMAND_MODULES = tuple(dict.fromkeys(COMMAND_MODULES.values()))


def requested_command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (its first argument, the top-level parser having no option
    but ``--help``), or None."""
    return argv[0] if argv and argv[0] in COMMAND_MODULES else None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every available subcommand, or with ``command``'s module's
    only (enough to parse a command line that names it)."""
    parser = argparse.ArgumentParser(
        prog="dicomlens", description="Upload and analyse medical images (DICOM, PNG, JPEG)."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = (COMMAND_MODULES[command],) if command in COMMAND_MODULES else SUBCOMMAND_MODULES
    for name in modules:
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
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(requested_command(arguments))
    args = parser.parse_args(arguments)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)  # noqa: T201
        return 130
    return code
