"""``POST /uploads``: open a job and hand the browser a signed upload form."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from dicomlens import bootstrap
from dicomlens.handlers.http import (
    METRICS_NAMESPACE,
    SERVICE,
    count,
    error_responses,
    install_error_handlers,
    json_response,
)

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
router = Router()  # type: ignore[no-untyped-call]
app = APIGatewayHttpResolver(enable_validation=True)


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CreateUploadRequest(_Camel):
    """What the browser declares about the file it is about to upload."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    file_name: str = Field(min_length=1, max_length=1024)
    content_type: str | None = Field(default=None, max_length=255)
    size: int = Field(gt=0, description="the file's exact size in bytes")


class UploadForm(_Camel):
    """Post ``fields`` first, then the file in a part named ``file``, as multipart/form-data."""

    url: str
    fields: dict[str, str]


class CreateUploadResponse(_Camel):
    """The new job and its upload form."""

    job_id: str
    upload: UploadForm
    expires_at: datetime
    max_bytes: int


@router.post(
    "/uploads",
    summary="Create an upload",
    responses={
        **json_response(201, CreateUploadResponse, "the job and its upload form"),
        **error_responses(400, 413),
    },
)
def create_upload(request: CreateUploadRequest) -> Response[str]:
    """Validate the declared file, open a PENDING job and sign its upload form."""
    grant = bootstrap.get_services().uploads.create_upload(
        file_name=request.file_name, content_type=request.content_type, size=request.size
    )
    logger.append_keys(jobId=grant.job_id)
    logger.info("upload created", extra={"size": request.size})
    count(metrics, "UploadsCreated")
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


app.include_router(router)
install_error_handlers(app, logger)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point."""
    return app.resolve(event, context)
