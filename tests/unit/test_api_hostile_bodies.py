"""Given hostile request bodies, the API handlers answer 4xx with the error shape, never 500;
and a log line of one invocation never carries another invocation's keys."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from dicomlens.handlers import create_upload, get_results
from dicomlens.handlers.observability import logger, use_own_service
from dicomlens.local.apigw import LocalLambdaContext
from fake_world import FakeWorld
from fakes import load_event

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def call(module: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = module.handler(event, LocalLambdaContext(function_name="test-function"))
    return response["statusCode"], json.loads(response["body"])


def upload_event(body: bytes | str, content_type: str, *, b64: bool = False) -> dict[str, Any]:
    event = load_event("http_api_create_upload")
    event["headers"] = {**event["headers"], "content-type": content_type}
    raw = body.encode() if isinstance(body, str) else body
    event["isBase64Encoded"] = b64
    event["body"] = base64.b64encode(raw).decode() if b64 else raw.decode("utf-8", "replace")
    return event


VALID = '{"fileName": "a.dcm", "size": 10, "contentType": "application/dicom"}'


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (upload_event(VALID, "text/plain"), 415),
        (upload_event(VALID, "application/octet-stream", b64=True), 415),
        (upload_event(b"\xff\xfe\x00{", "application/octet-stream", b64=True), 400),
        (upload_event(b"\xff\xfe\x00{", "application/json", b64=True), 400),
        (
            upload_event('{"fileName": "a.dcm", "size": ' + "9" * 5000 + "}", "application/json"),
            400,
        ),
        (upload_event("[" * 100_000 + "]" * 100_000, "application/json"), 400),
        (upload_event('{"fileName": "a.dcm", "size": ' + "[" * 5000, "application/json"), 400),
        (upload_event('{"fileName": "a.dcm", "size": true}', "application/json"), 400),
        (upload_event('{"fileName": "a.dcm", "size": 1.0}', "application/json"), 400),
        (upload_event('{"fileName": "a.dcm", "size": "10"}', "application/json"), 400),
        (upload_event('{"fileName": "a.dcm", "size": -1}', "application/json"), 400),
    ],
    ids=[
        "text-plain",
        "octet-stream",
        "octet-stream-not-utf8",
        "json-not-utf8",
        "5000-digit-size",
        "nested-100000",
        "unterminated-nesting",
        "size-true",
        "size-float",
        "size-string",
        "size-negative",
    ],
)
def test_hostile_bodies_are_4xx_with_the_error_shape(
    world: FakeWorld, event: dict[str, Any], status: int
) -> None:
    got, body = call(create_upload, event)
    assert got == status
    assert set(body) == {"error"}
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["message"]


def test_log_keys_of_one_invocation_are_not_on_the_next(world: FakeWorld) -> None:
    stream = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        job_event = load_event("http_api_get_job")
        call(get_results, job_event)  # appends the jobId it read
        bad = upload_event("{", "application/json")
        call(create_upload, bad)
        logger.warning("after the second invocation")
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    last = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert "jobId" not in last
    assert last["function_request_id"]


def test_a_logger_given_its_own_service_carries_no_invocation_keys(world: FakeWorld) -> None:
    import logging

    logger.append_keys(jobId="0123456789abcdef0123456789abcdef")
    stream = io.StringIO()
    use_own_service("dicomlens.tests.monitor", "dicomlens-test-monitor")
    own = logging.getLogger("dicomlens.tests.monitor")
    previous = own.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        own.warning("worker exited")
    finally:
        own.handlers[0].setStream(previous)  # type: ignore[attr-defined]
        logger.remove_keys(["jobId"])
    line = json.loads(stream.getvalue())
    assert line["service"] == "dicomlens-test-monitor"
    assert line["message"] == "worker exited"
    assert "jobId" not in line
