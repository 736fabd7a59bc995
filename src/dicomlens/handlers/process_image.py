"""The processImage function: S3 ObjectCreated records -> analysed jobs.

Every record is handled (an event may hold several); each key is URL-decoded here because
the S3 event carries them encoded (``+`` for space). The records are read as the plain dicts
they are: Powertools' ``S3Event`` would import every one of its event data classes (all of
``utilities.data_classes``) on each cold start of this function. Keys outside ``uploads/``
are ignored; a record without a known job is logged and ignored. Logs carry the job id as
correlation id and never a file name or any value from the file.
"""

from __future__ import annotations

import json
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
}


_MAX_WRAPPING = 4  # SQS body -> on-failure record -> S3 event is 2 levels deep


def object_keys(event: Any, *, depth: int = 0) -> list[str]:
    """The decoded object key of every ObjectCreated record in ``event``, in order.

    ``event`` is an S3 event, or one that wraps S3 events: an asynchronous invocation's
    on-failure destination record (the S3 event in ``requestPayload``), or an SQS event whose
    message bodies are either (a failure queue being redriven, or S3 notifications sent to
    SQS). Every record, each key decoded with ``unquote_plus`` (the record holds the key as S3
    encoded it). Anything else
    (S3's test event, a body that is not JSON) holds no key.
    """
    if not isinstance(event, dict) or depth > _MAX_WRAPPING:
        return []
    if isinstance(event.get("requestPayload"), dict):
        return object_keys(event["requestPayload"], depth=depth + 1)
    records = event.get("Records")
    if not isinstance(records, list):
        return []
    keys: list[str] = []
    for record in records:
        if not isinstance(record, dict):
            continue
        if record.get("eventSource") == "aws:sqs":
            keys += object_keys(_json_body(record.get("body")), depth=depth + 1)
        elif str(record.get("eventName", "")).startswith("ObjectCreated:"):
            keys.append(decode_event_key(record["s3"]["object"]["key"]))
    return keys


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
    """Process every record; return a summary per record (outcome and job id)."""
    processor = bootstrap.get_services().processor
    reports = []
    for key in object_keys(event):
        report = processor.process_upload(key)
        if report.job_id is not None:
            logger.set_correlation_id(report.job_id)
        log = logger.warning if report.outcome is Outcome.UNKNOWN_JOB else logger.info
        log(
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
        reports.append(
            {"jobId": report.job_id, "outcome": str(report.outcome), "errorCode": report.error_code}
        )
    return {"records": reports}


bootstrap.build_during_lambda_init(__name__, processor=True)
