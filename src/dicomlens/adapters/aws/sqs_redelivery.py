"""When SQS delivers a message again: ChangeMessageVisibility on a message being retried.

An SQS event source returns a batch item failure to the queue, where it waits out the
queue's visibility timeout (1800 s: 6 x the processor's timeout, AWS's guidance for event
sources) before its next delivery. That is far longer than a throttled service needs, or
than a live attempt's job lease lasts; the processor shortens each such wait here.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from dicomlens.adapters.aws.clients import AWS_ERRORS, error_code

logger = logging.getLogger(__name__)

MAX_VISIBILITY_S = 12 * 3600
"""The longest visibility timeout SQS accepts."""


def queue_name_and_owner(queue_arn: str) -> tuple[str, str]:
    """(queue name, account id) of ``arn:<partition>:sqs:<region>:<account>:<name>``.

    Raises ValueError for anything else.
    """
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[4] or not parts[5]:
        raise ValueError("not an SQS queue ARN")
    return parts[5], parts[4]


class SqsRedelivery:
    """Sets how long a received message stays invisible before SQS delivers it again."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._urls: dict[str, str] = {}

    def delay(self, queue_arn: str, receipt_handle: str, seconds: int) -> bool:
        """Make the message ``receipt_handle`` of the queue ``queue_arn`` visible again in
        ``seconds`` (0 to 12 hours). Whether SQS accepted it: a refusal (no permission, an
        expired receipt, throttling) is logged and leaves the queue's own timeout in force,
        so the message still comes again, later."""
        wait = max(0, min(int(seconds), MAX_VISIBILITY_S))
        try:
            self._client.change_message_visibility(
                QueueUrl=self._url(queue_arn), ReceiptHandle=receipt_handle, VisibilityTimeout=wait
            )
        except ValueError:
            logger.warning("the record names no SQS queue; its redelivery keeps the queue's wait")
            return False
        except AWS_ERRORS as exc:
            code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
            logger.warning(
                "the redelivery wait was not shortened; the queue's own wait applies",
                extra={"errorCode": code},
            )
            return False
        return True

    def _url(self, queue_arn: str) -> str:
        if queue_arn not in self._urls:
            name, owner = queue_name_and_owner(queue_arn)
            answer = self._client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=owner)
            self._urls[queue_arn] = str(answer["QueueUrl"])
        return self._urls[queue_arn]
