"""``POST /uploads``: open a job and hand the browser a signed upload form."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dicomlens import bootstrap
from dicomlens.handlers.models import CreateUploadRequest, CreateUploadResponse, UploadForm
from dicomlens.handlers.observability import count, logger, metrics, tracer
from dicomlens.handlers.openapi import error_responses, json_response
from dicomlens.handlers.resolver import api_resolver

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/uploads",
    summary="Create an upload",
    responses={
        **json_response(201, CreateUploadResponse, "the job and its upload form"),
        # 401 where a token (local, off loopback) or the JWT authorizer (AWS) is required;
        # 415 for a body that is not JSON; 503 SERVICE_UNAVAILABLE when storage is throttled.
        **error_responses(400, 401, 413, 415, 503),
    },
)
def create_upload(request: CreateUploadRequest) -> Response[str]:
    """Validate the declared file, open a PENDING job and sign its upload form."""
    grant = bootstrap.get_services().uploads.create_upload(
        file_name=request.file_name, content_type=request.content_type, size=request.size
    )
    logger.append_keys(jobId=grant.job_id)
    logger.info("upload created", extra={"size": request.size})
    count("UploadsCreated")
    body = CreateUploadResponse(
        job_id=grant.job_id,
        upload=UploadForm(url=grant.post.url, fields=grant.post.fields),
        expires_at=grant.expires_at,
        max_bytes=grant.max_bytes,
    )
    return Response(
        status_code=HTTPStatus.CREATED,
        content_type="application/json",
        # Serialized by pydantic's own encoder: Powertools' generic one costs more than the
        # rest of the request (the document still names the model, from ``responses``).
        body=body.model_dump_json(by_alias=True),
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


bootstrap.build_during_lambda_init(__name__)
