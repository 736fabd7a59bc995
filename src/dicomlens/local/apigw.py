"""API Gateway HTTP API (payload format 2.0) emulation: HTTP request <-> Lambda event.

Events are built the way API Gateway builds them: lower-case headers joined with commas,
cookies apart, ``rawQueryString`` plus decoded ``queryStringParameters``, path parameters
of the matched route, ``routeKey``, and a text body (base64 for anything not text).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml")


@dataclass(kw_only=True)
class LocalLambdaContext:
    """The attributes of a Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_s: float = 300.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        """An ARN of the local "account"."""
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds before the function's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def http_api_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    route_key: str,
    path_parameters: dict[str, str],
    source_ip: str,
    domain_name: str,
    forwarded: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """The v2 event API Gateway sends for one request.

    ``forwarded``: the scheme and port the request came in on, set as API Gateway sets
    them in ``x-forwarded-proto`` and ``x-forwarded-port`` (whatever the client sent).

    Longer than most functions because most of it is the event's one literal shape, field by
    field as API Gateway documents it; splitting it would scatter that shape.
    """
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[lower] = f"{joined[lower]},{value}" if lower in joined else value
    if forwarded is not None:
        joined["x-forwarded-proto"], port = forwarded[0], forwarded[1]
        joined["x-forwarded-port"] = str(port)
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    content_type = joined.get("content-type", "")
    is_text = not body or content_type.startswith(_TEXT_TYPES)
    now = datetime.now(UTC)
    request_id = uuid.uuid4().hex
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": joined,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".", maxsplit=1)[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        event["body"] = (
            body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode()
        )
    return event


@dataclass(frozen=True, kw_only=True)
class HttpReply:
    """What API Gateway turns a handler's result into."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def http_reply(result: Any) -> HttpReply:
    """Interpret a handler's return value as API Gateway (payload 2.0) does.

    A dict with ``statusCode`` is a full response; anything else is a 200 JSON body.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        return HttpReply(
            status=200,
            headers=[("content-type", "application/json")],
            body=json.dumps(result).encode(),
        )
    headers = [(str(k).lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name).lower(), str(v)) for v in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or ())
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return HttpReply(status=int(result["statusCode"]), headers=headers, body=body)
