"""``POST /jobs/{jobId}/deidentify``: a de-identified DICOM of a completed job.

The answer carries a short-lived download URL; ``GET /jobs/{jobId}`` shows a fresh one in
``urls.deidentified`` from then on. The service, its profile and key are wired by
:mod:`dicomlens.bootstrap` from the ``DICOMLENS_DEID_*`` settings (in AWS mode the key comes
from the Secrets Manager secret the template creates, ``DICOMLENS_DEID_SECRET_ARN``, or from
``DICOMLENS_DEID_SECRET``: there is no data directory to keep a generated key in).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dicomlens import bootstrap
from dicomlens.handlers.models import DeidentifiedResponse
from dicomlens.handlers.observability import count, logger, metrics, tracer
from dicomlens.handlers.openapi import error_responses, json_response
from dicomlens.handlers.resolver import api_resolver

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/jobs/<jobId>/deidentify",
    summary="De-identify a job's DICOM file",
    responses={
        **json_response(201, DeidentifiedResponse, "the de-identified copy"),
        # 422 also PROCESSING_TIMEOUT (over the time limit; locally the worker is killed)
        # and WORKER_CRASHED (locally: the file took its worker process down),
        # 503 SERVER_BUSY (locally: every de-identification worker busy, the queue full).
        **error_responses(400, 401, 404, 409, 413, 422, 503),
    },
)
def deidentify(
    jobId: Annotated[str, Path(max_length=200, description="the id POST /uploads returned")],  # noqa: N803 - the API's name
) -> Response[DeidentifiedResponse]:
    """PS3.15 Basic Profile with the configured options, burned-in text redacted."""
    logger.append_keys(jobId=jobId if len(jobId) <= 64 else jobId[:64])
    copy = bootstrap.get_services().deidentification.deidentify(jobId)
    count("JobsDeidentified")
    body = DeidentifiedResponse(
        job_id=copy.job_id,
        url=copy.url,
        expires_at=copy.expires_at,
        pixels_redacted=copy.pixels_redacted,
    )
    return Response(
        status_code=201,
        content_type="application/json",
        body=body,
        headers={"Cache-Control": "no-store"},
    )


app = api_resolver(router)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)  # no URLs or PHI in X-Ray
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point."""
    return app.resolve(event, context)


def warm_up() -> None:
    """Build the service and load its models before the first request (local workers)."""
    bootstrap.get_services().deidentification.warm_up()


bootstrap.build_during_lambda_init(__name__, build=("deidentification",))
