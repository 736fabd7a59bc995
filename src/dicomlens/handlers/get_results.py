"""``GET /jobs/{jobId}`` (status, results, fresh URLs) and ``GET /openapi.json``.

``?wait=s`` asks to hold the answer until the job has ended (COMPLETED, FAILED, EXPIRED) or
``s`` seconds have passed. This function answers at once; the local server does the waiting
before it calls it (:mod:`dicomlens.local.job_wait`), so an API client learns that its job
ended at once instead of polling for it. A Lambda function would be held (and billed) for
the wait, so on AWS the answer is immediate and clients poll as before.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dicomlens import bootstrap
from dicomlens.domain.jobs import MAX_JOB_WAIT_S
from dicomlens.handlers.models import JobView
from dicomlens.handlers.observability import count, logger, metrics, tracer
from dicomlens.handlers.openapi import error_responses, json_response, openapi_document
from dicomlens.handlers.resolver import api_resolver

router = Router()  # type: ignore[no-untyped-call]


@router.get(
    "/jobs/<jobId>",
    summary="Read a job",
    responses={**json_response(200, JobView, "the job"), **error_responses(400, 401, 404, 503)},
)
def get_job(
    jobId: Annotated[str, Path(max_length=200, description="the id POST /uploads returned")],  # noqa: N803 - the API's name
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_JOB_WAIT_S,
            description="seconds the server may hold the answer until the job has ended "
            "(the local server does; on AWS the answer is immediate)",
        ),
    ] = 0,
) -> Response[str]:
    """The job's status, results (PHI hidden unless enabled) and short-lived URLs; any
    waiting asked for by ``wait`` happened before this call (see the module)."""
    logger.append_keys(jobId=jobId if len(jobId) <= 64 else jobId[:64])
    view = JobView.of(bootstrap.get_services().results.job_details(jobId))
    count("JobsRead")
    return Response(
        status_code=200,
        content_type="application/json",
        body=view.model_dump_json(by_alias=True),  # see create_upload: pydantic's encoder
        headers={"Cache-Control": "no-store"},
    )


@router.get("/openapi.json", summary="This API's OpenAPI document", include_in_schema=False)
def get_openapi() -> Response[str]:
    """The OpenAPI document of every route of the API."""
    return Response(status_code=200, content_type="application/json", body=_document())


@cache
def _document() -> str:
    # the other functions' routes, imported here: GET /jobs/{jobId} does not pay for them
    from dicomlens.handlers import create_upload, deidentify, report  # noqa: PLC0415

    return openapi_document(create_upload.router, router, deidentify.router, report.router)


app = api_resolver(router)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)  # no URLs or PHI in X-Ray
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point."""
    return app.resolve(event, context)


bootstrap.build_during_lambda_init(__name__)
