"""``POST /jobs/{jobId}/deidentify`` through the Lambda handler, with in-memory adapters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from dicomlens import bootstrap
from dicomlens.config import Settings
from dicomlens.deid.verify import find_values
from dicomlens.handlers import create_upload, deidentify, get_results, process_image
from fakes import (
    FakeClock,
    FakeLambdaContext,
    InMemoryBlobStore,
    InMemoryJobStore,
    SequentialIds,
    load_event,
)

JOB = "0123456789abcdef0123456789abcdef"
CT_PATH = Path(str(get_testdata_file("CT_small.dcm")))


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.blobs = InMemoryBlobStore(self.clock)
        self.jobs = InMemoryJobStore()
        self.services = bootstrap.build_services(
            Settings(
                mode="local",
                analyzers=(),
                deid_secret="api-test-secret",  # noqa: S106 - a test key
                deid_pixel_text="off",
            ),
            blobs=self.blobs,
            jobs=self.jobs,
            clock=self.clock,
            ids=SequentialIds(JOB),
        )
        bootstrap.use_services(self.services)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    yield World()
    bootstrap.use_services(None)


def _call(module: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = module.handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def _post_deidentify(job_id: str = JOB) -> dict[str, Any]:
    event = load_event("http_api_get_job")
    event["routeKey"] = "POST /jobs/{jobId}/deidentify"
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/jobs/{job_id}/deidentify"
    event["requestContext"]["http"]["method"] = "POST"
    event["pathParameters"] = {"jobId": job_id}
    return event


def _upload_and_process(world: World) -> None:
    data = CT_PATH.read_bytes()
    _call(create_upload, load_event("http_api_create_upload"))
    world.blobs.receive_upload(f"uploads/{JOB}/CT_small.dcm", data)
    event = load_event("s3_object_created")
    event["Records"][0]["s3"]["object"]["size"] = len(data)
    process_image.handler(event, FakeLambdaContext())


def test_a_completed_job_gets_a_deidentified_copy_shown_by_get_job(world: World) -> None:
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


def test_unknown_and_unfinished_jobs_are_refused(world: World) -> None:
    status, body = _call(deidentify, _post_deidentify("f" * 32))
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    _call(create_upload, load_event("http_api_create_upload"))  # PENDING, no file yet
    status, body = _call(deidentify, _post_deidentify())
    assert (status, body["error"]["code"]) == (409, "CONFLICT")
