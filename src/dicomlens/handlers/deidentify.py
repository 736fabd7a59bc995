"""``POST /jobs/{jobId}/deidentify``: a de-identified DICOM of a completed job.

The answer carries a short-lived download URL; ``GET /jobs/{jobId}`` shows a fresh one in
``urls.deidentified`` from then on. The profile and its key come from the ``DICOMLENS_DEID_*``
settings (in AWS mode the key comes from the Secrets Manager secret the template creates,
``DICOMLENS_DEID_SECRET_ARN``, or from ``DICOMLENS_DEID_SECRET``: there is no data directory
to keep a generated key in).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from dicomlens import bootstrap
from dicomlens.config import Settings
from dicomlens.deid.secret import deid_secret
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.handlers.http import (
    METRICS_NAMESPACE,
    SERVICE,
    count,
    error_responses,
    install_error_handlers,
    json_response,
)

if TYPE_CHECKING:  # de-identification (pydicom, OCR) loads on first use, not at cold start
    from dicomlens.deid.profile import ProfileOptions
    from dicomlens.services.deidentification import DeidentificationService

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
router = Router()  # type: ignore[no-untyped-call]
app = APIGatewayHttpResolver(enable_validation=True)


class DeidentifiedResponse(BaseModel):
    """The de-identified copy of the job's file."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    job_id: str
    url: str
    expires_at: datetime
    pixels_redacted: bool


@router.post(
    "/jobs/<jobId>/deidentify",
    summary="De-identify a job's DICOM file",
    responses={
        **json_response(201, DeidentifiedResponse, "the de-identified copy"),
        **error_responses(404, 409, 422),
    },
)
def deidentify(
    jobId: Annotated[str, Path(max_length=200, description="the id POST /uploads returned")],  # noqa: N803 - the API's name
) -> Response[DeidentifiedResponse]:
    """PS3.15 Basic Profile with the configured options, burned-in text redacted."""
    logger.append_keys(jobId=jobId if len(jobId) <= 64 else jobId[:64])
    copy = _service().deidentify(jobId)
    count(metrics, "JobsDeidentified")
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


def _service() -> DeidentificationService:
    services = bootstrap.get_services()
    return _build(id(services))


@functools.cache
def _build(_services_id: int) -> DeidentificationService:
    """One service per wiring (the process's, or a test's)."""
    from dicomlens.deid.text import ocr_text_locator  # noqa: PLC0415
    from dicomlens.services.deidentification import DeidentificationService  # noqa: PLC0415

    services = bootstrap.get_services()
    settings = services.settings
    return DeidentificationService(
        blobs=services.blobs,
        jobs=services.jobs,
        clock=services.clock,
        options=functools.partial(_options, settings),
        limits=settings.imaging_limits(),
        locator=functools.cache(ocr_text_locator),
        url_expiry_s=settings.download_expiry_s,
    )


def _options(settings: Settings) -> ProfileOptions:
    configured, arn = settings.deid_secret, settings.deid_secret_arn
    if configured is None and not arn and settings.mode == "aws":
        raise DicomlensError(
            ErrorCode.DEIDENTIFICATION_FAILED, "no de-identification key is configured"
        )
    return settings.deid_options(deid_secret(configured, settings.data_dir, secret_arn=arn))


app.include_router(router)
install_error_handlers(app, logger)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point."""
    return app.resolve(event, context)
