"""botocore clients with the retry, timeout and signing settings every adapter relies on."""

from __future__ import annotations

import functools
import threading
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from dicomlens.domain.errors import DicomlensError, ErrorCode

# Standard retry mode: exponential backoff with jitter on throttling and transient errors,
# the same policy across every service (the legacy default retries fewer error kinds).
RETRIES: dict[str, Any] = {"mode": "standard", "max_attempts": 5}

_NOT_FOUND = frozenset(
    {"404", "NoSuchKey", "NotFound", "NoSuchBucket", "ResourceNotFoundException"}
)
_CONFLICT = frozenset({"ConditionalCheckFailedException", "TransactionConflictException"})
_TOO_LARGE = frozenset({"EntityTooLarge", "ImageTooLargeException"})
_INVALID = frozenset(
    {"InvalidImageFormatException", "InvalidParameterException", "ValidationException"}
)


def client_config(*, s3: bool = False, path_style: bool = False) -> Config:
    """A botocore Config: standard retries, bounded timeouts, SigV4 for S3.

    S3 URLs are virtual-hosted on the bucket's regional endpoint (a global-endpoint URL makes a
    browser follow a redirect that CORS refuses for a new bucket outside us-east-1);
    ``path_style`` is for S3-compatible stores (MinIO, moto) reached through an endpoint URL.
    """
    options: dict[str, Any] = {
        "retries": RETRIES,
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
    config = client_config(s3=service == "s3", path_style=endpoint_url is not None)
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


def translate(exc: ClientError, *, action: str) -> DicomlensError:
    """The domain error for a ClientError: raise it ``from exc``.

    Decided on the error code the service returns, never on message text. The message names
    the action and the code only (never keys or item contents, which may carry PHI).
    """
    code = error_code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _NOT_FOUND or status == 404:
        return DicomlensError(ErrorCode.NOT_FOUND, f"{action}: not found")
    if code in _CONFLICT:
        return DicomlensError(ErrorCode.CONFLICT, f"{action}: the item changed ({code})")
    if code in _TOO_LARGE:
        return DicomlensError(ErrorCode.TOO_LARGE, f"{action}: too large ({code})")
    if code in _INVALID:
        return DicomlensError(ErrorCode.VALIDATION_ERROR, f"{action}: rejected ({code})")
    return DicomlensError(ErrorCode.INTERNAL, f"{action} failed ({code or status})")
