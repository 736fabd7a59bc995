"""How soon a message the processor reports for redelivery comes again (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from dicomlens.adapters.aws.sqs_redelivery import SqsRedelivery, queue_name_and_owner
from dicomlens.handlers.process_image import (
    RETRY_FIRST_WAIT_S,
    RETRY_MAX_WAIT_S,
    redelivery_delay,
)
from dicomlens.services.processing import UploadOutcome as Outcome

ARN = "arn:aws:sqs:eu-west-1:123456789012:dicomlens-prod-process-image"


@pytest.mark.parametrize(
    ("outcomes", "received", "expected"),
    [
        ({Outcome.LEASED}, 1, 330),
        ({Outcome.RETRY}, 1, RETRY_FIRST_WAIT_S),
        ({Outcome.RETRY}, 2, 2 * RETRY_FIRST_WAIT_S),
        ({Outcome.RETRY}, 4, 8 * RETRY_FIRST_WAIT_S),
        ({Outcome.RETRY}, 40, RETRY_MAX_WAIT_S),
        ({Outcome.RETRY}, 0, RETRY_FIRST_WAIT_S),
        ({Outcome.RETRY, Outcome.LEASED}, 1, 330),
        ({Outcome.COMPLETED}, 1, 0),
    ],
)
def test_the_wait_is_the_lease_or_a_doubling_backoff(
    outcomes: set[Outcome], received: int, expected: int
) -> None:
    assert redelivery_delay(outcomes, receive_count=received, lease_s=329.5) == expected


def test_a_queue_arn_names_the_queue_and_its_owner() -> None:
    assert queue_name_and_owner(ARN) == ("dicomlens-prod-process-image", "123456789012")
    for bad in ("", "arn:aws:s3:::bucket", "arn:aws:sqs:eu-west-1::name", "not:an:arn"):
        with pytest.raises(ValueError, match="SQS queue ARN"):
            queue_name_and_owner(bad)


class FakeSqs:
    def __init__(self, error: str | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_queue_url(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(("get_queue_url", kwargs))
        return {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/q"}

    def change_message_visibility(self, **kwargs: Any) -> None:
        self.calls.append(("change_message_visibility", kwargs))
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "no"}}, "Change")


def test_the_wait_is_set_on_the_message_and_the_queue_url_looked_up_once() -> None:
    sqs = FakeSqs()
    redelivery = SqsRedelivery(sqs)
    assert redelivery.delay(ARN, "receipt-1", 30)
    assert redelivery.delay(ARN, "receipt-2", 99_999)  # capped at SQS's 12 hours
    names = [name for name, _ in sqs.calls]
    assert names == ["get_queue_url", "change_message_visibility", "change_message_visibility"]
    assert sqs.calls[0][1] == {
        "QueueName": "dicomlens-prod-process-image",
        "QueueOwnerAWSAccountId": "123456789012",
    }
    assert sqs.calls[1][1]["VisibilityTimeout"] == 30
    assert sqs.calls[2][1]["VisibilityTimeout"] == 12 * 3600


@pytest.mark.parametrize("error", ["AccessDenied", "ReceiptHandleIsInvalid", "ThrottlingException"])
def test_a_refusal_is_logged_and_leaves_the_queue_s_wait(
    error: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert not SqsRedelivery(FakeSqs(error)).delay(ARN, "receipt", 30)
    assert "queue's own wait applies" in caplog.text
    assert "receipt" not in caplog.text.replace("the redelivery", "")


def test_a_record_without_a_queue_arn_is_not_an_error() -> None:
    sqs = FakeSqs()
    assert not SqsRedelivery(sqs).delay("", "receipt", 30)
    assert sqs.calls == []
