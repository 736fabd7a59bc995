"""The OpenAPI document of the HTTP API, and the ``responses`` entries routes declare."""

from __future__ import annotations

import json
from http import HTTPStatus

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from dicomlens.handlers.models import ErrorResponse

API_TITLE = "dicomlens API"
API_VERSION = "1.0.0"


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
    # Invalid requests are answered 400 with the error shape, never Powertools' default 422
    # (a route's own 422, e.g. REDACTION_INCOMPLETE, stays).
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                del responses["422"]
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return json.dumps(document, indent=2)
