"""``dicomlens index-open-jobs``: put jobs stored before the ``open-jobs`` index into it.

The scheduled sweeper finds stuck and abandoned jobs through the table's sparse ``open-jobs``
index, never by scanning. Jobs written by a version without that index (PENDING or
PROCESSING, with no ``openStatus``) are invisible to it until rewritten. Run this once after
such an upgrade: it scans the table for them and rewrites each (only if a processor did not
move it meanwhile). The table's name comes from the stack's ``TableName`` output.
"""

from __future__ import annotations

import argparse
from typing import Any

from dicomlens.cli.deploy import _session, required_outputs, say

TABLE_OUTPUT = "TableName"


def add_parser(subparsers: Any) -> None:
    """Add ``index-open-jobs`` to the ``dicomlens`` command."""
    command = subparsers.add_parser(
        "index-open-jobs",
        help="after an upgrade: let the sweeper see open jobs stored before its index",
    )
    command.add_argument("--stage", default="dev", help="deployment stage (default: dev)")
    command.add_argument("--region", default=None, help="AWS region (default: the CLI's)")
    command.set_defaults(run=run_index_open_jobs)


def run_index_open_jobs(args: argparse.Namespace, *, session: Any = None) -> int:
    """Index every unindexed open job of the stage's table; print how many. The exit code."""
    from dicomlens.adapters.aws.dynamodb import DynamoJobStore  # noqa: PLC0415 - AWS only

    session = session or _session(args.region)
    keys = (TABLE_OUTPUT,)
    outputs = required_outputs(session, command="index-open-jobs", stage=args.stage, keys=keys)
    if outputs is None:
        return 2
    store = DynamoJobStore(session.client("dynamodb"), table_name=outputs[TABLE_OUTPUT])
    indexed = store.index_open_jobs()
    plural = "s" if indexed != 1 else ""
    say(f"indexed {indexed} open job{plural} for the sweeper")
    return 0
