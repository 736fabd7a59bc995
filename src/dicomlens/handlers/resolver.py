"""The API functions' resolver, built by one factory with the one error -> response mapping.

Errors are ``{"error": {"code", "message"}}`` (:func:`dicomlens.domain.errors.error_body`).
Codes map to statuses once, here; anything else is a 500 whose body says nothing about the
cause (the log has the exception type). ``SERVICE_UNAVAILABLE`` (a throttled service, a full
disk: try again later) is a 503 that keeps its code and message, so a client knows to retry.

A request body is read only as JSON, and whatever a client sends there is a 400 or a 415,
never a 500: a body that is not UTF-8, a number longer than Python reads (4300 digits), or
nesting deeper than the parser's recursion limit are all "not valid JSON".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from dicomlens.domain.errors import DicomlensError, ErrorCode, error_body
from dicomlens.handlers.observability import logger

STATUS_BY_CODE: dict[str, int] = {
    ErrorCode.VALIDATION_ERROR: HTTPStatus.BAD_REQUEST,
    ErrorCode.NOT_FOUND: HTTPStatus.NOT_FOUND,
    ErrorCode.TOO_LARGE: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    ErrorCode.UPLOAD_REJECTED: HTTPStatus.BAD_REQUEST,
    ErrorCode.CONFLICT: HTTPStatus.CONFLICT,
    ErrorCode.INVALID_DICOM: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.NOT_AN_IMAGE: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.DEIDENTIFICATION_FAILED: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.REDACTION_IMPOSSIBLE: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.REDACTION_INCOMPLETE: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.PROCESSING_TIMEOUT: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.SERVER_BUSY: HTTPStatus.SERVICE_UNAVAILABLE,
    ErrorCode.SERVICE_UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    ErrorCode.WORKER_CRASHED: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.NOT_ACCEPTABLE: HTTPStatus.NOT_ACCEPTABLE,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
}


def api_resolver(*routers: Router) -> APIGatewayHttpResolver:
    """A validating HTTP API resolver serving ``routers`` (their routes must be declared
    already), with every exception a route can raise mapped to the error shape."""
    app = _BodyCheckingResolver(enable_validation=True, json_body_deserializer=parse_json_body)
    for router in routers:
        app.include_router(router)
    _install_error_handlers(app)
    return app


def parse_json_body(text: str) -> Any:
    """``text`` as JSON; ``json.JSONDecodeError`` for anything the parser refuses, also what
    it refuses with another error (too many digits, too deep)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise json.JSONDecodeError("the body is not JSON this API reads", "", 0) from exc


class _BodyCheckingResolver(APIGatewayHttpResolver):
    """A resolver that refuses, before routing, a base64 body that is not UTF-8 text (the
    validation layer would decode it without catching the error)."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        """Resolve ``event``, or a 400 when its body cannot be text."""
        body = event.get("body")
        if isinstance(body, str) and body and event.get("isBase64Encoded"):
            try:
                base64.b64decode(body.encode("ascii"), validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                return {
                    "statusCode": int(HTTPStatus.BAD_REQUEST),
                    "headers": {"Content-Type": "application/json"},
                    "body": json.dumps(
                        error_body(ErrorCode.VALIDATION_ERROR, "the request body is not UTF-8")
                    ),
                    "isBase64Encoded": False,
                }
        return super().resolve(event, context)


def status_for(code: str) -> int:
    """The HTTP status of an error code (500 for codes that are not the client's fault)."""
    return int(STATUS_BY_CODE.get(code, HTTPStatus.INTERNAL_SERVER_ERROR))


def error_response(status: int, code: str, message: str) -> Response[str]:
    """The API's error shape as a response."""
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(error_body(code, message)),
    )


def _install_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(DicomlensError)  # type: ignore[untyped-decorator]
    def _domain_error(exc: DicomlensError) -> Response[str]:
        status = status_for(exc.code)
        if exc.code == ErrorCode.SERVICE_UNAVAILABLE:  # transient (throttled, disk full)
            logger.warning("request refused for now", extra={"errorCode": str(exc.code)})
            return error_response(status, exc.code, exc.message)
        if status >= 500:
            logger.error("request failed", extra={"errorCode": str(exc.code)})
            return error_response(status, ErrorCode.INTERNAL, "internal error")
        return error_response(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid_request(exc: RequestValidationError) -> Response[str]:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
        message = "; ".join(problems) or "the request is invalid"
        return error_response(HTTPStatus.BAD_REQUEST, ErrorCode.VALIDATION_ERROR, message)

    @app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
    def _unsupported_body(exc: RequestUnsupportedContentType) -> Response[str]:
        del exc
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            ErrorCode.VALIDATION_ERROR,
            "the request body must be application/json",
        )

    @app.not_found
    def _no_route(exc: NotFoundError) -> Response[str]:
        del exc
        return error_response(HTTPStatus.NOT_FOUND, ErrorCode.NOT_FOUND, "no such route")

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(exc: Exception) -> Response[str]:
        logger.error("unexpected error", extra={"exceptionType": type(exc).__name__})
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL, "internal error"
        )
