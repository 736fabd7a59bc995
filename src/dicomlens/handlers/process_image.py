"""The processImage function: S3 ObjectCreated records -> analysed jobs.

Every record is handled (an event may hold several); keys are URL-decoded here because
the S3 event carries them encoded (``+`` for space). Keys outside ``uploads/`` are ignored;
a record without a known job is logged and ignored. Logs carry the job id as correlation
id and never a file name or any value from the file.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from dicomlens import bootstrap
from dicomlens.domain.keys import decode_event_key
from dicomlens.handlers.http import METRICS_NAMESPACE, SERVICE, count
from dicomlens.services.processing import UploadOutcome as Outcome

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)

_METRIC_BY_OUTCOME = {
    Outcome.COMPLETED: "JobsCompleted",
    Outcome.FAILED: "JobsFailed",
    Outcome.UNKNOWN_JOB: "UploadsWithoutJob",
}


def object_keys(event: dict[str, Any]) -> list[str]:
    """The decoded object key of every ObjectCreated record in ``event``."""
    keys = []
    for record in event.get("Records") or ():
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        raw = record.get("s3", {}).get("object", {}).get("key")
        if isinstance(raw, str):
            keys.append(decode_event_key(raw))
    return keys


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
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
            count(metrics, metric)
        reports.append(
            {"jobId": report.job_id, "outcome": str(report.outcome), "errorCode": report.error_code}
        )
    return {"records": reports}
