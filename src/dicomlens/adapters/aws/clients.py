"""botocore clients with the retry, timeout and signing settings every adapter relies on."""

from __future__ import annotations

import functools
import threading
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from dicomlens.domain.errors import DicomlensError, ErrorCode, TransientError

# Standard retry mode: exponential backoff with jitter on throttling and transient errors,
# the same policy across every service (the legacy default retries fewer error kinds).
RETRIES: dict[str, Any] = {"mode": "standard", "max_attempts": 5}
# Adaptive mode adds client-side rate limiting after throttling: for Rekognition, whose
# transactions-per-second quota is shared by every concurrent processor.
ADAPTIVE_RETRIES: dict[str, Any] = {"mode": "adaptive", "max_attempts": 5}
_ADAPTIVE_SERVICES = frozenset({"rekognition"})

# What botocore raises when the connection itself failed (refused, reset, timed out, the
# response stream broke): transient, like throttling.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (BotoConnectionError, HTTPClientError)
# Every exception an AWS call raises that an adapter translates (see :func:`translate`).
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, *TRANSPORT_ERRORS)
# Error codes that say "try again later", never "this request is wrong" (throttling, service
# errors); any 5xx status counts too.
_TRANSIENT = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",  # Rekognition: a rate quota, not the file
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalError",
        "InternalFailure",
        "InternalServerErrorException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

_NOT_FOUND = frozenset(
    {"404", "NoSuchKey", "NotFound", "NoSuchBucket", "ResourceNotFoundException"}
)
_CONFLICT = frozenset({"ConditionalCheckFailedException", "TransactionConflictException"})
_TOO_LARGE = frozenset({"EntityTooLarge", "ImageTooLargeException"})
_INVALID = frozenset(
    {"InvalidImageFormatException", "InvalidParameterException", "ValidationException"}
)


def client_config(*, s3: bool = False, path_style: bool = False, adaptive: bool = False) -> Config:
    """A botocore Config: standard (or ``adaptive``) retries, bounded timeouts, SigV4 for S3.

    S3 URLs are virtual-hosted on the bucket's regional endpoint (a global-endpoint URL makes a
    browser follow a redirect that CORS refuses for a new bucket outside us-east-1);
    ``path_style`` is for S3-compatible stores (MinIO, moto) reached through an endpoint URL.
    """
    options: dict[str, Any] = {
        "retries": ADAPTIVE_RETRIES if adaptive else RETRIES,
        "connect_timeout": 5,
        "read_timeout": 60,
    }
    if s3:
        options["signature_version"] = "s3v4"
        options["s3"] = {
            "addressing_style": "path" if path_style else "virtual",
            "us_east_1_regional_endpoint": "regional",
        }
    return Config(**options)


_session_lock = threading.Lock()


@functools.cache
def _process_session() -> botocore.session.Session:
    return botocore.session.Session()


def make_client(
    service: str, *, region: str | None, endpoint_url: str | None = None, session: Any = None
) -> Any:
    """A client for ``service`` in ``region`` (None: botocore's own lookup, AWS_REGION in
    Lambda), optionally at ``endpoint_url``; from ``session`` (a boto3 Session) when given.

    Otherwise every client comes from one botocore session per process: a session loads the
    endpoint rules, the partitions and the list of services once for all its clients (a
    session per client parsed them again for each, a large part of a cold start), and a plain
    botocore session spares boto3's S3 transfer machinery, which no adapter uses (presigned
    URLs and POSTs are botocore's). Sessions are not thread-safe: clients are made one at a
    time.
    """
    config = client_config(
        s3=service == "s3",
        path_style=endpoint_url is not None,
        adaptive=service in _ADAPTIVE_SERVICES,
    )
    with _session_lock:
        if session is not None:
            return session.client(
                service, region_name=region, endpoint_url=endpoint_url, config=config
            )
        return _process_session().create_client(
            service, region_name=region, endpoint_url=endpoint_url, config=config
        )


def error_code(exc: ClientError) -> str:
    """The service's error code (``NoSuchKey``, ``ConditionalCheckFailedException`` ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_transient(exc: ClientError) -> bool:
    """Whether the service said "try again later": throttling, or a service-side error."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error_code(exc) in _TRANSIENT or (isinstance(status, int) and status >= 500)


def translate(exc: Exception, *, action: str) -> DicomlensError:
    """The domain error for a ClientError or a transport error: raise it ``from exc``.

    Decided on the error code the service returns, never on message text: throttling, 5xx
    and connection failures (botocore has already retried them) are a
    :class:`~dicomlens.domain.errors.TransientError`. The message names the action and the
    code only (never keys or item contents, which may carry PHI).
    """
    if isinstance(exc, TRANSPORT_ERRORS):
        return TransientError(f"{action}: connection failed ({type(exc).__name__})")
    if not isinstance(exc, ClientError):
        return DicomlensError(ErrorCode.INTERNAL, f"{action} failed ({type(exc).__name__})")
    code = error_code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if is_transient(exc):
        return TransientError(f"{action}: the service is busy or unavailable ({code or status})")
    if code in _NOT_FOUND or status == 404:
        return DicomlensError(ErrorCode.NOT_FOUND, f"{action}: not found")
    if code in _CONFLICT:
        return DicomlensError(ErrorCode.CONFLICT, f"{action}: the item changed ({code})")
    if code in _TOO_LARGE:
        return DicomlensError(ErrorCode.TOO_LARGE, f"{action}: too large ({code})")
    if code in _INVALID:
        return DicomlensError(ErrorCode.VALIDATION_ERROR, f"{action}: rejected ({code})")
    return DicomlensError(ErrorCode.INTERNAL, f"{action} failed ({code or status})")
