"""The HTTP side of DICOMweb: a v2 API Gateway event read as a request, answers as replies.

Kept apart from the routes so that both stay small. Nothing here logs: requests and
answers of DICOMweb carry patient data by nature.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from dicomlens.dicomweb.content_coding import GZIP, gzip_if_worth_it
from dicomlens.domain.errors import DicomlensError, ErrorCode, error_body

ROOT_SEGMENT = "/dicomweb"
DICOM_JSON = "application/dicom+json"
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@dataclass(frozen=True, kw_only=True)
class DicomWebRequest:
    """One request under the DICOMweb root.

    ``segments``: the path below the root, split at ``/`` (percent-escapes kept, as
    API Gateway passes ``rawPath``); ``root_url``: the absolute URL of the root the request
    came through (host, stage); ``query``: decoded pairs in request order.
    """

    method: str
    segments: tuple[str, ...]
    root_url: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value (API Gateway joins repeated headers with commas)."""
        return self.headers.get(name.lower())

    def first(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        return next((value for key, value in self.query if key == name), None)

    def accept(self) -> str | None:
        """The Accept value to negotiate: the ``accept`` query parameter (PS3.18 8.3.3.1),
        its repeated values joined, else the Accept header."""
        values = [value for key, value in self.query if key == "accept"]
        return ",".join(values) if values else self.header("accept")

    @property
    def api_root_url(self) -> str:
        """The URL of the API the DICOMweb root belongs to (``/jobs/...`` is below it)."""
        return self.root_url[: -len(ROOT_SEGMENT)]


def read_request(event: Mapping[str, Any]) -> DicomWebRequest:
    """The request of an HTTP API (payload 2.0) event whose path is under ``/dicomweb``."""
    raw_path = str(event.get("rawPath") or "/")
    at = raw_path.find(ROOT_SEGMENT + "/")
    if at < 0 and raw_path.endswith(ROOT_SEGMENT):
        at = len(raw_path) - len(ROOT_SEGMENT)
    if at < 0:
        raise DicomlensError(ErrorCode.NOT_FOUND, "no such route")
    root_path = raw_path[: at + len(ROOT_SEGMENT)]
    rest = raw_path[at + len(ROOT_SEGMENT) :].strip("/")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    context = event.get("requestContext") or {}
    method = str((context.get("http") or {}).get("method") or "GET").upper()
    return DicomWebRequest(
        method=method,
        segments=tuple(rest.split("/")) if rest else (),
        root_url=f"{origin_of(event)}{root_path}",
        query=tuple(parse_qsl(str(event.get("rawQueryString") or ""), keep_blank_values=True)),
        headers=headers,
        body=_body(event),
    )


_DEFAULT_PORTS = {"http": "80", "https": "443"}


def origin_of(event: Mapping[str, Any]) -> str:
    """``scheme://host[:port]`` as the client reached the API that sent ``event`` (payload
    2.0): the forwarded scheme, the Host header, the forwarded port when the header lacks
    one."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    context = event.get("requestContext") or {}
    scheme = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip() or "http"
    return f"{scheme}://{_host(headers, str(context.get('domainName') or 'localhost'), scheme)}"


def _host(headers: Mapping[str, str], domain: str, scheme: str) -> str:
    """The host (and port) clients reach us by: the Host header, with the port the request
    came in on (``x-forwarded-port``) when the header leaves it out and it is not the
    scheme's default (some clients, dicomweb-client among them, send no port)."""
    host = headers.get("host") or domain
    port = (headers.get("x-forwarded-port") or "").split(",")[0].strip()
    if ":" in host.rsplit("]", 1)[-1] or not port.isdigit() or port == _DEFAULT_PORTS.get(scheme):
        return host
    return f"{host}:{port}"


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if not body:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(str(body).encode("ascii"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DicomlensError(ErrorCode.VALIDATION_ERROR, "the body is not base64") from exc
    return str(body).encode("utf-8")


def binary_reply(
    status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A reply whose body is bytes (base64 in the event, as API Gateway wants it)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, **_NO_STORE, **(headers or {})},
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


def json_reply(
    status: int,
    value: Sequence[Any] | Mapping[str, Any],
    *,
    content_type: str = DICOM_JSON,
    headers: Mapping[str, str] | None = None,
    accept_encoding: str | None = None,
) -> dict[str, Any]:
    """A JSON reply (DICOM JSON by default); gzipped when large and ``accept_encoding``
    (the client's Accept-Encoding) admits it, see :func:`text_reply`."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text_reply(status, text, content_type, headers=headers, accept_encoding=accept_encoding)


def text_reply(
    status: int,
    text: str,
    content_type: str,
    *,
    headers: Mapping[str, str] | None = None,
    accept_encoding: str | None = None,
) -> dict[str, Any]:
    """A reply whose body is ``text`` as it is (e.g. JSON already serialised), or its
    UTF-8 bytes gzipped (``Content-Encoding: gzip``, base64 in the event) when the text is
    large and ``accept_encoding`` admits gzip. Replies that could be compressed say
    ``Vary: Accept-Encoding``."""
    extra = dict(headers or {})
    if accept_encoding is not None:
        extra["Vary"] = "Accept-Encoding"
        packed = gzip_if_worth_it(text.encode("utf-8"), accept_encoding)
        if packed is not None:
            return binary_reply(status, packed, content_type, {**extra, "Content-Encoding": GZIP})
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, **_NO_STORE, **extra},
        "body": text,
        "isBase64Encoded": False,
    }


def redirect_reply(location: str) -> dict[str, Any]:
    """303 See Other to ``location``."""
    return {
        "statusCode": int(HTTPStatus.SEE_OTHER),
        "headers": {"Location": location, **_NO_STORE},
        "body": "",
        "isBase64Encoded": False,
    }


def error_reply(status: int, code: str, message: str) -> dict[str, Any]:
    """The API's error shape."""
    return json_reply(status, error_body(code, message), content_type="application/json")
