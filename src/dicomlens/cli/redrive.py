"""``dicomlens redrive``: move the failure queue's messages back to the processing queue.

Messages land in the failure queue after the processing queue's maxReceiveCount deliveries
(transient errors that lasted, or a processor that kept dying). Once the cause is fixed,
``redrive`` sends each one to the processing queue again and deletes it from the failure
queue only after the send succeeded (a crash in between repeats a message, never loses one;
the processor is idempotent). The queue URLs come from the stack's outputs
(``ProcessingQueueUrl``, ``FailureQueueUrl``), as ``dicomlens deploy`` reads them. Receive,
send and delete rather than SQS's StartMessageMoveTask, so it works on any SQS-compatible
endpoint and says exactly how many messages it moved.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dicomlens.cli.deploy import _session, required_outputs, say

PROCESSING_QUEUE_OUTPUT = "ProcessingQueueUrl"
FAILURE_QUEUE_OUTPUT = "FailureQueueUrl"
_BATCH = 10  # SQS's largest receive and batch size


def add_parser(subparsers: Any) -> None:
    """Add ``redrive`` to the ``dicomlens`` command."""
    redrive = subparsers.add_parser(
        "redrive", help="move the processor's failed messages back to the processing queue"
    )
    redrive.add_argument("--stage", default="dev", help="deployment stage (default: dev)")
    redrive.add_argument("--region", default=None, help="AWS region (default: the CLI's)")
    redrive.add_argument(
        "--max-messages",
        type=int,
        default=None,
        metavar="N",
        help="move at most N messages (default: all)",
    )
    redrive.set_defaults(run=run_redrive)


def move_messages(
    sqs: Any, *, source_url: str, target_url: str, limit: int | None = None, wait_s: int = 1
) -> int:
    """Move messages from ``source_url`` to ``target_url`` (at most ``limit``) until a
    receive finds none; returns how many were moved. Bodies and message attributes are
    kept; a message is deleted from the source only once the target accepted it."""
    moved = 0
    while limit is None or moved < limit:
        wanted = _BATCH if limit is None else min(_BATCH, limit - moved)
        messages = sqs.receive_message(
            QueueUrl=source_url,
            MaxNumberOfMessages=wanted,
            WaitTimeSeconds=wait_s,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        entries = [
            {
                "Id": str(index),
                "MessageBody": message["Body"],
                **(
                    {"MessageAttributes": message["MessageAttributes"]}
                    if message.get("MessageAttributes")
                    else {}
                ),
            }
            for index, message in enumerate(messages)
        ]
        sent = sqs.send_message_batch(QueueUrl=target_url, Entries=entries)
        done = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
        if done:
            sqs.delete_message_batch(
                QueueUrl=source_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(done)
                ],
            )
        moved += len(done)
        if len(done) < len(messages):  # the rest stay in the failure queue, visible later
            say(f"{len(messages) - len(done)} messages could not be sent", file=sys.stderr)
            break
    return moved


def run_redrive(args: argparse.Namespace, *, session: Any = None) -> int:
    """Move every failed message back; print how many. Returns the exit code."""
    session = session or _session(args.region)
    keys = (PROCESSING_QUEUE_OUTPUT, FAILURE_QUEUE_OUTPUT)
    outputs = required_outputs(session, command="redrive", stage=args.stage, keys=keys)
    if outputs is None:
        return 2
    moved = move_messages(
        session.client("sqs"),
        source_url=outputs[FAILURE_QUEUE_OUTPUT],
        target_url=outputs[PROCESSING_QUEUE_OUTPUT],
        limit=args.max_messages,
    )
    plural = "s" if moved != 1 else ""
    say(f"moved {moved} message{plural} from the failure queue to the processing queue")
    return 0
