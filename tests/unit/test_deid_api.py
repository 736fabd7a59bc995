"""``POST /jobs/{jobId}/deidentify`` through the Lambda handler, with in-memory adapters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from dicomlens.deid.verify import find_values
from dicomlens.handlers import create_upload, deidentify, get_results, process_image
from dicomlens.local.apigw import LocalLambdaContext
from fake_world import JOB, FakeWorld
from fakes import load_event

CT_PATH = Path(str(get_testdata_file("CT_small.dcm")))


@pytest.fixture
def world_settings() -> dict[str, Any]:
    return {
        "deid_secret": "api-test-secret",
        "deid_pixel_text": "off",
    }


def _call(module: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = module.handler(event, LocalLambdaContext(function_name="test-function"))
    return response["statusCode"], json.loads(response["body"])


def _post_deidentify(job_id: str = JOB) -> dict[str, Any]:
    event = load_event("http_api_get_job")
    event["routeKey"] = "POST /jobs/{jobId}/deidentify"
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/jobs/{job_id}/deidentify"
    event["requestContext"]["http"]["method"] = "POST"
    event["pathParameters"] = {"jobId": job_id}
    return event


def _upload_and_process(world: FakeWorld) -> None:
    data = CT_PATH.read_bytes()
    _call(create_upload, load_event("http_api_create_upload"))
    world.blobs.receive_upload(f"uploads/{JOB}/CT_small.dcm", data)
    event = load_event("s3_object_created")
    event["Records"][0]["s3"]["object"]["size"] = len(data)
    process_image.handler(event, LocalLambdaContext(function_name="test-function"))


def test_a_completed_job_gets_a_deidentified_copy_shown_by_get_job(world: FakeWorld) -> None:
    _upload_and_process(world)
    original = world.blobs.objects[f"uploads/{JOB}/CT_small.dcm"]  # type: ignore[attr-defined]

    status, body = _call(deidentify, _post_deidentify())

    assert status == 201
    assert body["url"].startswith(f"memory://derived/{JOB}/deidentified.dcm")
    assert body["pixelsRedacted"] is False
    status, job = _call(get_results, load_event("http_api_get_job"))
    assert job["urls"]["deidentified"].startswith(f"memory://derived/{JOB}/deidentified.dcm")
    with world.blobs.local_copy(f"derived/{JOB}/deidentified.dcm") as path:
        out = dcmread(path)
    source = dcmread(CT_PATH)
    assert out.PatientIdentityRemoved == "YES"
    assert find_values(out, [str(source.PatientName), source.PatientID]) == []
    assert world.blobs.objects[f"uploads/{JOB}/CT_small.dcm"] == original  # type: ignore[attr-defined]


def test_unknown_and_unfinished_jobs_are_refused(world: FakeWorld) -> None:
    status, body = _call(deidentify, _post_deidentify("f" * 32))
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    _call(create_upload, load_event("http_api_create_upload"))  # PENDING, no file yet
    status, body = _call(deidentify, _post_deidentify())
    assert (status, body["error"]["code"]) == (409, "CONFLICT")
