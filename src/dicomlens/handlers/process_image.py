"""The processImage function: S3 ObjectCreated records -> analysed jobs.

Every record is handled (an event may hold several), parsed with Powertools' ``S3Event``;
each key is URL-decoded here because the S3 event carries them encoded (``+`` for space)
and Powertools leaves them so. Keys outside ``uploads/`` are ignored; a record without a
known job is logged and ignored. Logs carry the job id as correlation id and never a file
name or any value from the file.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event
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


def object_keys(event: dict[str, Any]) -> list[str]:
    """The decoded object key of every ObjectCreated record in ``event``, in order.

    Every record, not ``S3Event.object_key`` (the first record's only), each decoded with
    ``unquote_plus`` (``S3Object.key`` is the key as S3 encoded it).
    """
    if not event.get("Records"):
        return []
    return [
        decode_event_key(record.s3.get_object.key)
        for record in S3Event(event).records
        if record.event_name.startswith("ObjectCreated:")
    ]


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
            count(metric)
        reports.append(
            {"jobId": report.job_id, "outcome": str(report.outcome), "errorCode": report.error_code}
        )
    return {"records": reports}
