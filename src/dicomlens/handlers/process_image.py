"""The processImage function: S3 ObjectCreated records -> analysed jobs.

On AWS the function reads the processing queue (SQS event source mapping with
``ReportBatchItemFailures``): each message body is an S3 notification. The answer to an SQS
event is ``{"batchItemFailures": [...]}``, naming every message that must come again: one
whose job another live attempt holds (LEASED: if that attempt dies, this delivery finishes
the job) or that hit a transient error (RETRY: the job was released). Every other message is
done, the job COMPLETED or FAILED (or already finished). After the queue's maxReceiveCount
a message goes to the failure queue (``dicomlens redrive`` brings it back).

A reported message would wait out the queue's visibility timeout (1800 s) before it comes
again; the handler shortens that wait (:func:`redelivery_delay`): a LEASED message comes
back once the other attempt's lease has run out, a RETRY message after an exponential
backoff (30 s, 60 s, 120 s ... by its receive count), so a throttled service is tried again
within minutes and a dead attempt's job finishes after its lease, not half an hour later.

Every record is handled (an event may hold several); each key is URL-decoded here because
the S3 event carries them encoded (``+`` for space). The records are read as the plain dicts
they are: Powertools' ``S3Event`` would import every one of its event data classes (all of
``utilities.data_classes``) on each cold start of this function. Keys outside ``uploads/``
are ignored; a record without a known job is logged and ignored. Other events (a plain S3
event, as the local runtime sends) are answered with a summary per record. Logs carry the
job id as correlation id and never a file name or any value from the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dicomlens import bootstrap
from dicomlens.domain.keys import decode_event_key
from dicomlens.handlers.observability import count, logger, metrics, tracer
from dicomlens.services.processing import UploadOutcome as Outcome

_METRIC_BY_OUTCOME = {
    Outcome.COMPLETED: "JobsCompleted",
    Outcome.FAILED: "JobsFailed",
    Outcome.UNKNOWN_JOB: "UploadsWithoutJob",
    Outcome.LEASED: "DeliveriesDeferred",
    Outcome.RETRY: "JobsRetried",
}
# Outcomes whose delivery must come again (reported as batch item failures).
REDELIVER = frozenset({Outcome.LEASED, Outcome.RETRY})
RETRY_FIRST_WAIT_S = 30
RETRY_MAX_WAIT_S = 900


def redelivery_delay(outcomes: Collection[Outcome], *, receive_count: int, lease_s: float) -> int:
    """Seconds before a message reported with ``outcomes`` should come again.

    LEASED: the job lease (``lease_s``, the function's timeout plus a margin), after which
    a live attempt has finished and a dead one's lease has ended. RETRY: 30 s doubled on
    each receive (``receive_count``, SQS's ApproximateReceiveCount, from 1), at most 900 s.
    With both, the longer.
    """
    waits = [0]
    if Outcome.LEASED in outcomes:
        waits.append(math.ceil(lease_s))
    if Outcome.RETRY in outcomes:
        backoff = RETRY_FIRST_WAIT_S * 2 ** max(0, min(receive_count, 16) - 1)
        waits.append(min(RETRY_MAX_WAIT_S, backoff))
    return max(waits)


_MAX_WRAPPING = 4  # SQS body -> on-failure record -> S3 event is 2 levels deep


@dataclass(frozen=True)
class CreatedObject:
    """An object an ObjectCreated record names: its decoded key and, in a versioned bucket,
    the version the event is about."""

    key: str
    version_id: str | None = None


def created_objects(event: Any, *, depth: int = 0) -> list[CreatedObject]:
    """Every object an ObjectCreated record in ``event`` names, in order.

    ``event`` is an S3 event, or one that wraps S3 events: an asynchronous invocation's
    on-failure destination record (the S3 event in ``requestPayload``), or an SQS event whose
    message bodies are either (a failure queue being redriven, or S3 notifications sent to
    SQS). Every record, each key decoded with ``unquote_plus`` (the record holds the key as S3
    encoded it), with the ``versionId`` S3 names in a versioned bucket. Anything else (S3's
    test event, a body that is not JSON, a record without a key) names no object.
    """
    if not isinstance(event, dict) or depth > _MAX_WRAPPING:
        return []
    if isinstance(event.get("requestPayload"), dict):
        return created_objects(event["requestPayload"], depth=depth + 1)
    records = event.get("Records")
    if not isinstance(records, list):
        return []
    found: list[CreatedObject] = []
    for record in records:
        if not isinstance(record, dict):
            continue
        if record.get("eventSource") == "aws:sqs":
            found += created_objects(_json_body(record.get("body")), depth=depth + 1)
        elif str(record.get("eventName", "")).startswith("ObjectCreated:"):
            s3 = record.get("s3")
            s3_object = s3.get("object") if isinstance(s3, dict) else None
            if not isinstance(s3_object, dict):
                continue
            key = s3_object.get("key")
            if not isinstance(key, str) or not key:
                continue
            version = s3_object.get("versionId")
            found.append(
                CreatedObject(
                    key=decode_event_key(key),
                    version_id=str(version) if version else None,
                )
            )
    return found


def object_keys(event: Any) -> list[str]:
    """The decoded key of every object :func:`created_objects` finds in ``event``."""
    return [created.key for created in created_objects(event)]


def _json_body(body: Any) -> Any:
    try:
        return json.loads(body) if isinstance(body, str) else None
    except ValueError:
        logger.warning("an SQS message body is not JSON; it was skipped")
        return None


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # no URLs or PHI in X-Ray
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Process every record. An SQS event gets ``batchItemFailures`` (the messages to deliver
    again); any other event a summary per record (outcome and job id)."""
    if _is_sqs_event(event):
        failures = []
        for record in event["Records"]:
            created = created_objects({"Records": [record]})
            outcomes = {Outcome(_process(one)["outcome"]) for one in created}
            if outcomes & REDELIVER:
                failures.append({"itemIdentifier": str(record.get("messageId", ""))})
                _shorten_wait(record, outcomes)
        return {"batchItemFailures": failures}
    return {"records": [_process(one) for one in created_objects(event)]}


def _shorten_wait(record: dict[str, Any], outcomes: set[Outcome]) -> None:
    """Ask the queue to deliver ``record`` again after :func:`redelivery_delay`."""
    services = bootstrap.get_services()
    redelivery = services.redelivery
    if redelivery is None:
        return
    attributes = record.get("attributes")
    try:
        received = int(attributes.get("ApproximateReceiveCount", 1)) if attributes else 1
    except (TypeError, ValueError):
        received = 1
    wait = redelivery_delay(
        outcomes, receive_count=received, lease_s=services.settings.lease_timeout_s
    )
    redelivery.delay(
        str(record.get("eventSourceARN", "")), str(record.get("receiptHandle", "")), wait
    )


def _is_sqs_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def _process(created: CreatedObject) -> dict[str, Any]:
    """Process one object (the version the event names); log and count the outcome; its
    summary."""
    processor = bootstrap.get_services().processor
    report = processor.process_upload(created.key, version_id=created.version_id)
    if report.job_id is not None:
        logger.set_correlation_id(report.job_id)
    warn = report.outcome in (Outcome.UNKNOWN_JOB, Outcome.RETRY)
    (logger.warning if warn else logger.info)(
        "object processed",
        extra={
            "jobId": report.job_id,
            "outcome": str(report.outcome),
            "errorCode": report.error_code,
        },
    )
    metric = _METRIC_BY_OUTCOME.get(report.outcome)
    if metric is not None:
        count(metric)
    return {"jobId": report.job_id, "outcome": str(report.outcome), "errorCode": report.error_code}


bootstrap.build_during_lambda_init(__name__, build=("processor",))
