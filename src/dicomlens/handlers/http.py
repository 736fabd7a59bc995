"""What the HTTP handlers share: the one error -> status mapping, and the OpenAPI document.

Errors are ``{"error": {"code", "message"}}``. Codes map to statuses once, here; anything
else is a 500 whose body says nothing about the cause (the log has the exception type).
"""

from __future__ import annotations

import json
from http import HTTPStatus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from pydantic import BaseModel

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.services.results import ErrorBody

SERVICE = "dicomlens"
METRICS_NAMESPACE = "dicomlens"
API_TITLE = "dicomlens API"
API_VERSION = "1.0.0"

STATUS_BY_CODE: dict[str, int] = {
    ErrorCode.VALIDATION_ERROR: HTTPStatus.BAD_REQUEST,
    ErrorCode.NOT_FOUND: HTTPStatus.NOT_FOUND,
    ErrorCode.TOO_LARGE: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    ErrorCode.UPLOAD_REJECTED: HTTPStatus.BAD_REQUEST,
    ErrorCode.CONFLICT: HTTPStatus.CONFLICT,
    ErrorCode.INVALID_DICOM: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.DEIDENTIFICATION_FAILED: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.REDACTION_IMPOSSIBLE: HTTPStatus.UNPROCESSABLE_ENTITY,
}


class ErrorResponse(BaseModel):
    """Every error: ``{"error": {"code", "message"}}``."""

    error: ErrorBody


def error_responses(*statuses: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI ``responses`` entries for error statuses (all share :class:`ErrorResponse`)."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {"application/json": {"model": ErrorResponse}},
        }
        for status in statuses
    }


def json_response(
    status: int, model: type[BaseModel], description: str
) -> dict[int, OpenAPIResponse]:
    """An OpenAPI ``responses`` entry for a JSON body of ``model``."""
    return {status: {"description": description, "content": {"application/json": {"model": model}}}}


def count(metrics: Metrics, name: str) -> None:
    """Add 1 to the metric ``name`` (skipped when metrics are disabled: Powertools would
    otherwise keep every value in memory and print them every 100)."""
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def error_response(status: int, code: str, message: str) -> Response[str]:
    """The API's error shape."""
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps({"error": {"code": code, "message": message}}),
    )


def status_for(code: str) -> int:
    """The HTTP status of an error code (500 for codes that are not the client's fault)."""
    return int(STATUS_BY_CODE.get(code, HTTPStatus.INTERNAL_SERVER_ERROR))


def install_error_handlers(app: APIGatewayHttpResolver, logger: Logger) -> None:
    """Map every exception a route can raise to the error shape, once per resolver."""

    @app.exception_handler(DicomlensError)  # type: ignore[untyped-decorator]
    def _domain_error(exc: DicomlensError) -> Response[str]:
        status = status_for(exc.code)
        if status >= 500:
            logger.error("request failed", extra={"errorCode": str(exc.code)})
            return error_response(status, str(ErrorCode.INTERNAL), "internal error")
        return error_response(status, str(exc.code), exc.message)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid_request(exc: RequestValidationError) -> Response[str]:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
        message = "; ".join(problems) or "the request is invalid"
        return error_response(HTTPStatus.BAD_REQUEST, str(ErrorCode.VALIDATION_ERROR), message)

    @app.not_found
    def _no_route(exc: NotFoundError) -> Response[str]:
        del exc
        return error_response(HTTPStatus.NOT_FOUND, str(ErrorCode.NOT_FOUND), "no such route")

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(exc: Exception) -> Response[str]:
        logger.error("unexpected error", extra={"exceptionType": type(exc).__name__})
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, str(ErrorCode.INTERNAL), "internal error"
        )


def openapi_document(*routers: Router) -> str:
    """The OpenAPI document of the whole API: every function's routes in one resolver."""
    combined = APIGatewayHttpResolver(enable_validation=True)
    for router in routers:
        combined.include_router(router)
    document = json.loads(
        combined.get_openapi_json_schema(
            title=API_TITLE,
            version=API_VERSION,
            description="Upload medical images (DICOM, PNG, JPEG) and read their analysis.",
        )
    )
    # Invalid requests are answered 400 with the error shape, never Powertools' default 422.
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return json.dumps(document, indent=2)
