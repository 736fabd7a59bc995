"""Errors with stable codes.

Every failure a user can see carries an :class:`ErrorCode` (stable, machine-readable)
and a human message. Adapters translate vendor exceptions into :class:`DicomlensError`
with ``raise ... from exc``; one mapping (in the handlers) turns codes into HTTP statuses.
"""

from __future__ import annotations

import traceback
from enum import StrEnum
from pathlib import PurePath


class ErrorCode(StrEnum):
    """Stable error codes. Never rename one: clients and stored jobs depend on them."""

    NOT_AN_IMAGE = "NOT_AN_IMAGE"
    INVALID_DICOM = "INVALID_DICOM"
    UNSUPPORTED_TRANSFER_SYNTAX = "UNSUPPORTED_TRANSFER_SYNTAX"
    TRUNCATED_PIXEL_DATA = "TRUNCATED_PIXEL_DATA"
    TOO_LARGE = "TOO_LARGE"
    DECODE_TIMEOUT = "DECODE_TIMEOUT"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    UPLOAD_REJECTED = "UPLOAD_REJECTED"
    INTERNAL = "INTERNAL"
    DEIDENTIFICATION_FAILED = "DEIDENTIFICATION_FAILED"
    REDACTION_IMPOSSIBLE = "REDACTION_IMPOSSIBLE"
    REDACTION_INCOMPLETE = "REDACTION_INCOMPLETE"
    UNAUTHORIZED = "UNAUTHORIZED"
    HOST_NOT_ALLOWED = "HOST_NOT_ALLOWED"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    WORKER_CRASHED = "WORKER_CRASHED"  # the process analysing the file died, repeatedly
    PROCESSING_TIMEOUT = "PROCESSING_TIMEOUT"
    SERVER_BUSY = "SERVER_BUSY"
    # A service the work depends on is throttling or unavailable: retry later (never stored
    # on a job; the attempt is released instead).
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    # DICOMweb content negotiation: no representation the client accepts (406), or a request
    # body of a media type the resource does not take (415).
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"


class DicomlensError(Exception):
    """An error with a stable :class:`ErrorCode` and a message safe to show a user.

    The message never contains patient data.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        """The error as ``{"code", "message"}``, the shape stored on jobs and sent by the API."""
        return {"code": str(self.code), "message": self.message}

    def body(self) -> dict[str, dict[str, str]]:
        """The error as the body every HTTP answer and CLI record uses (see :func:`error_body`)."""
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The one error shape every surface sends: ``{"error": {"code", "message"}}``.

    Used by the API handlers, the local upload endpoint and server, and ``dicomlens analyze``'s
    per-file records, so a client parses every error the same way.
    """
    return {"error": {"code": str(code), "message": message}}


class IllegalTransitionError(DicomlensError):
    """A job was asked to move between two statuses that the state machine does not link."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.ILLEGAL_TRANSITION, message)


class TransientError(DicomlensError):
    """A failure that says nothing about the file: a service throttled, timed out or was
    unavailable after the client's own retries. The work is retried later, never failed."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.SERVICE_UNAVAILABLE, message)


def where_raised(exc: BaseException) -> str:
    """``Type at file.py:line`` of the innermost frame: enough to find a bug, and free of
    the exception's message (which may quote request or file content)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {PurePath(last.filename).name}:{last.lineno}"
