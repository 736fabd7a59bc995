"""The three Lambda handlers fed with the event payloads AWS sends (tests/events/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_file

from dicomlens import bootstrap
from dicomlens.config import Settings
from dicomlens.domain.jobs import JobStatus
from dicomlens.handlers import create_upload, get_results, process_image
from dicomlens.local.apigw import LocalLambdaContext
from fake_world import JOB, FakeWorld, local_settings
from fakes import load_event

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()


@pytest.fixture
def world_settings() -> dict[str, Any]:
    return {"window_presets": True}


def call(module: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = module.handler(event, LocalLambdaContext(function_name="test-function"))
    return response["statusCode"], json.loads(response["body"])


def test_create_upload_answers_201_with_a_form_for_the_server_chosen_key(world: FakeWorld) -> None:
    status, body = call(create_upload, load_event("http_api_create_upload"))
    assert status == 201
    assert body["jobId"] == JOB
    assert body["upload"]["fields"]["key"] == f"uploads/{JOB}/CT_small.dcm"
    assert body["maxBytes"] == Settings().max_upload_bytes
    assert body["expiresAt"].startswith("2026-01-02T03:")


def test_create_upload_reads_base64_bodies_and_neutralises_traversal(world: FakeWorld) -> None:
    status, body = call(create_upload, load_event("http_api_create_upload_base64"))
    assert status == 201
    assert body["upload"]["fields"]["key"] == f"uploads/{JOB}/passwd"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"fileName": "a.dcm"}, 400, "VALIDATION_ERROR"),
        ({"fileName": "a.dcm", "size": "many"}, 400, "VALIDATION_ERROR"),
        ({"fileName": "a.dcm", "size": 10, "contentType": "text/html"}, 400, "VALIDATION_ERROR"),
        ({"fileName": "a.dcm", "size": 10**12}, 413, "TOO_LARGE"),
    ],
)
def test_create_upload_refusals_use_the_error_shape(
    world: FakeWorld, payload: dict[str, Any], status: int, code: str
) -> None:
    event = load_event("http_api_create_upload")
    event["body"] = json.dumps(payload)
    got_status, body = call(create_upload, event)
    assert got_status == status
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_an_unexpected_error_is_a_500_without_details(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(**kwargs: Any) -> None:
        raise RuntimeError("/data/patients/Jane Doe.dcm")

    monkeypatch.setattr(world.services.uploads, "create_upload", explode)
    status, body = call(create_upload, load_event("http_api_create_upload"))
    assert status == 500
    assert body == {"error": {"code": "INTERNAL", "message": "internal error"}}


def test_a_transient_failure_is_a_503_the_client_can_act_on(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dicomlens.domain.errors import TransientError

    def full(**kwargs: Any) -> None:
        raise TransientError("the server's storage is full; try again later")

    # A full disk (locally) or a throttled table (on AWS): nothing about the request
    monkeypatch.setattr(world.services.uploads, "create_upload", full)
    status, body = call(create_upload, load_event("http_api_create_upload"))
    assert status == 503
    assert body == {
        "error": {
            "code": "SERVICE_UNAVAILABLE",
            "message": "the server's storage is full; try again later",
        }
    }


def upload_and_process(world: FakeWorld) -> dict[str, Any]:
    call(create_upload, load_event("http_api_create_upload"))
    world.blobs.receive_upload(f"uploads/{JOB}/CT_small.dcm", CT)
    event = load_event("s3_object_created")
    event["Records"][0]["s3"]["object"]["size"] = len(CT)
    result: dict[str, Any] = process_image.handler(
        event, LocalLambdaContext(function_name="test-function")
    )
    return result


PLACEMENT = (
    "studyInstanceUid",
    "seriesInstanceUid",
    "sopInstanceUid",
    "seriesNumber",
    "instanceNumber",
)


def test_get_job_shows_results_and_fresh_urls_without_phi(world: FakeWorld) -> None:
    upload_and_process(world)
    status, body = call(get_results, load_event("http_api_get_job"))
    assert status == 200
    assert body["status"] == "COMPLETED"
    assert body["fileName"] == "CT small.dcm"
    assert "phi" not in body["result"]
    assert body["result"]["summary"]["modality"] == "CT"
    # The file's place in its study (the page groups by it), as CT_small.dcm holds it
    placed = {key: body["result"]["summary"][key] for key in PLACEMENT}
    assert placed == {
        "studyInstanceUid": "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322",
        "seriesInstanceUid": "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322",
        "sopInstanceUid": "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322",
        "seriesNumber": 1,
        "instanceNumber": 1,
    }
    assert body["urls"]["preview"].startswith(f"memory://derived/{JOB}/preview.png")
    assert body["urls"]["original"].startswith(f"memory://uploads/{JOB}/")
    assert set(body["urls"]["presets"]) == {"soft-tissue", "lung", "bone", "brain"}
    assert body["error"] is None


def test_phi_is_shown_only_when_the_deployment_enables_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    world = FakeWorld(local_settings(window_presets=True, expose_phi=True)).install()
    try:
        upload_and_process(world)
        _, body = call(get_results, load_event("http_api_get_job"))
    finally:
        bootstrap.use_services(None)
    assert body["result"]["phi"]["patientName"]


@pytest.mark.parametrize("job_id", ["f" * 32, "not-a-job", "../../etc/passwd", "A" * 32])
def test_unknown_or_ill_formed_job_ids_are_404(world: FakeWorld, job_id: str) -> None:
    event = load_event("http_api_get_job")
    event["pathParameters"]["jobId"] = job_id
    event["rawPath"] = f"/jobs/{job_id}"
    status, body = call(get_results, event)
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"


def test_the_openapi_document_describes_every_route(world: FakeWorld) -> None:
    status, body = call(get_results, load_event("http_api_openapi"))
    assert status == 200
    assert set(body["paths"]) == {
        "/uploads",
        "/jobs/{jobId}",
        "/jobs/{jobId}/deidentify",
        "/jobs/{jobId}/report",
    }
    assert "201" in body["paths"]["/uploads"]["post"]["responses"]
    # And it names the error statuses clients meet: 401 when a token or JWT is required
    # (every route), 415 for a body that is not JSON, 503 when de-identification is busy
    documented = {
        (path, method): set(operation["responses"])
        for path, item in body["paths"].items()
        for method, operation in item.items()
    }
    # 503: storage throttled past the retries (SERVICE_UNAVAILABLE), or de-identification busy
    assert {"400", "401", "413", "415", "503"} <= documented[("/uploads", "post")]
    assert {"400", "401", "404", "503"} <= documented[("/jobs/{jobId}", "get")]
    assert {"401", "404", "409", "422", "503"} <= documented[("/jobs/{jobId}/deidentify", "post")]
    assert {"201", "401", "404", "409", "422"} <= documented[("/jobs/{jobId}/report", "post")]


def test_process_image_handles_every_record_once(world: FakeWorld) -> None:
    call(create_upload, load_event("http_api_create_upload"))
    world.blobs.receive_upload(f"uploads/{JOB}/CT_small.dcm", CT)
    outcome = process_image.handler(
        load_event("s3_object_created_multi"), LocalLambdaContext(function_name="test-function")
    )
    assert [r["outcome"] for r in outcome["records"]] == [
        "COMPLETED",
        "IGNORED_KEY",
        "UNKNOWN_JOB",
        "NOT_CLAIMED",
    ]
    job = world.jobs.get(JOB)
    assert job is not None
    assert job.status is JobStatus.COMPLETED
    assert job.attempts == 1


def test_process_image_logs_no_file_name_or_patient_data(
    world: FakeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="dicomlens"):
        upload_and_process(world)
    logged = "\n".join(str(vars(record)) for record in caplog.records)
    assert JOB in logged
    assert "CT small" not in logged
    assert "CT_small" not in logged
    assert "CompressedSamples" not in logged  # CT_small.dcm's patient name


def test_process_image_decodes_encoded_keys() -> None:
    event = load_event("sam_s3_put")
    assert process_image.object_keys(event) == [
        "uploads/0123456789abcdef0123456789abcdef/CT+small.dcm"
    ]
    event["Records"][0]["s3"]["object"]["key"] = "uploads/x/CT+small%C3%BC.dcm"
    assert process_image.object_keys(event) == ["uploads/x/CT smallü.dcm"]


def test_process_image_decodes_the_key_of_every_record_not_only_the_first() -> None:
    other = "uploads/fedcba9876543210fedcba9876543210"
    event = load_event("s3_object_created_multi")
    event["Records"][2]["s3"]["object"]["key"] = f"{other}/a+b%2B.dcm"
    event["Records"].append({**event["Records"][0], "eventName": "ObjectRemoved:Delete"})
    assert process_image.object_keys(event) == [
        f"uploads/{JOB}/CT_small.dcm",
        f"derived/{JOB}/preview.png",
        f"{other}/a b+.dcm",
        f"uploads/{JOB}/CT_small.dcm",
    ]
    assert process_image.object_keys({}) == []


def _on_failure_record(s3_event: dict[str, Any]) -> dict[str, Any]:
    """What Lambda sends an on-failure destination after an asynchronous invocation failed."""
    return {
        "version": "1.0",
        "timestamp": "2026-12-06T05:00:00.000Z",
        "requestContext": {
            "requestId": "c1e6c2f4-0000-4000-8000-000000000000",
            "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:process:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": s3_event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"errorMessage": "Task timed out after 300.00 seconds"},
    }


def _sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": "h",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:dicomlens-dev-failures",
                "awsRegion": "eu-west-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def test_process_image_reads_the_s3_event_inside_failure_records_and_sqs_messages() -> None:
    s3_event = load_event("sam_s3_put")
    key = "uploads/0123456789abcdef0123456789abcdef/CT+small.dcm"
    # Given an on-failure destination record (the S3 event in requestPayload)
    assert process_image.object_keys(_on_failure_record(s3_event)) == [key]
    # And a failure queue's messages being redriven, and S3 notifications sent through SQS
    redriven = _sqs_event(
        json.dumps(_on_failure_record(s3_event)),
        json.dumps(s3_event),
        json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}),  # S3's test message
        "not json",
    )
    assert process_image.object_keys(redriven) == [key, key]
    # And nothing that is no event holds a key
    assert process_image.object_keys({"requestPayload": "x"}) == []
    assert process_image.object_keys({"Records": "x"}) == []


def test_an_sqs_event_is_answered_with_the_messages_to_deliver_again(world: FakeWorld) -> None:
    """Given one message per record (the processing queue's S3 notifications): a job held by a
    live attempt is reported for redelivery; a completed job and S3's test message are done."""
    call(create_upload, load_event("http_api_create_upload"))
    key = f"uploads/{JOB}/CT_small.dcm"
    world.blobs.receive_upload(key, CT)
    (record,) = load_event("s3_object_created")["Records"]
    record["s3"]["object"]["key"] = key
    notification = json.dumps({"Records": [record]})
    test_message = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})
    assert world.jobs.claim(JOB, now=world.clock.now(), lease_s=300) is not None
    context = LocalLambdaContext(function_name="test-function")

    answer = process_image.handler(_sqs_event(notification, test_message), context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m0"}]}

    world.clock.advance(301)  # that attempt died: its lease ran out
    assert process_image.handler(_sqs_event(notification), context) == {"batchItemFailures": []}
    job = world.jobs.get(JOB)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    # delivered again after it completed: done, nothing changes
    assert process_image.handler(_sqs_event(notification), context) == {"batchItemFailures": []}
    assert world.jobs.get(JOB) == job


def test_no_handler_response_is_recorded_in_traces(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Responses carry presigned URLs and, with PHI enabled, patient data: X-Ray must not
    # hold them. Given a recorder in place of the tracer's response capture
    from dicomlens.handlers.observability import tracer

    captured: list[bool] = []

    def record(**kwargs: Any) -> None:
        captured.append(bool(kwargs.get("capture_response")))

    monkeypatch.setattr(tracer, "_add_response_as_metadata", record)
    # When each API function answers
    status, _body = call(create_upload, load_event("http_api_create_upload"))
    assert status == 201
    event = load_event("http_api_get_job")
    call(get_results, event)
    # Then the tracer was asked to capture no response
    assert captured and not any(captured)
