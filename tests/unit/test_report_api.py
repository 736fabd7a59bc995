"""``POST /jobs/{jobId}/report`` through the DICOMweb function's handler, with in-memory
blobs and jobs and the SQLite index: the report joins the study (QIDO, WADO), a repeat
replaces it, errors carry their codes, and the automatic mode never fails a job."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file

from corpus.burned_in import burned_in_file
from dicomlens import bootstrap
from dicomlens.dicomweb.model import QueryLevel
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.results import Box, Finding
from dicomlens.handlers import create_upload, deidentify, dicomweb, process_image
from dicomlens.local.apigw import LocalLambdaContext
from dicomlens.services.processing import REPORT_FAILED
from fake_world import JOB, FakeWorld, local_settings
from fakes import load_event

CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
PNG_NAME = "picture.png"


@pytest.fixture
def world_settings(tmp_path: Path) -> dict[str, Any]:
    return {"data_dir": tmp_path, "deid_secret": "report-test", "deid_pixel_text": "off"}


def _context() -> LocalLambdaContext:
    return LocalLambdaContext(function_name="test-function")


def _post(route: str, job_id: str = JOB, query: str = "") -> dict[str, Any]:
    event = load_event("http_api_get_job")
    event["routeKey"] = f"POST /jobs/{{jobId}}/{route}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/jobs/{job_id}/{route}"
    event["requestContext"]["http"]["method"] = "POST"
    event["pathParameters"] = {"jobId": job_id}
    event["rawQueryString"] = query
    event["queryStringParameters"] = dict(p.split("=") for p in query.split("&")) if query else {}
    return event


def _report(job_id: str = JOB, query: str = "") -> tuple[int, dict[str, Any]]:
    reply = dicomweb.handler(_post("report", job_id, query), _context())
    return reply["statusCode"], json.loads(reply["body"])


def _dataset(world: FakeWorld, key: str) -> Any:
    return dcmread(io.BytesIO(world.blobs.objects[key]))


def _upload_and_process(world: FakeWorld, data: bytes, name: str = "image.dcm") -> None:
    event = load_event("http_api_create_upload")
    body = json.loads(event["body"])
    body.update(fileName=name, size=len(data))
    event["body"] = json.dumps(body)
    create_upload.handler(event, _context())
    world.blobs.receive_upload(f"uploads/{JOB}/{name}", data)
    s3 = load_event("s3_object_created")
    s3["Records"][0]["s3"]["object"]["key"] = f"uploads/{JOB}/{name}"
    s3["Records"][0]["s3"]["object"]["size"] = len(data)
    process_image.handler(s3, _context())


def test_a_report_joins_the_study_and_a_repeat_replaces_it(world: FakeWorld) -> None:
    # Given a completed DICOM job
    _upload_and_process(world, CT)
    source = dcmread(get_testdata_file("CT_small.dcm"))
    # When its report is requested (twice)
    status, body = _report()
    again_status, again = _report()
    # Then it is a new SR series of the source's study, served by WADO-RS
    assert (status, again_status) == (201, 201)
    assert body["studyInstanceUid"] == source.StudyInstanceUID
    assert body["sopInstanceUid"] == again["sopInstanceUid"]
    assert body["wadoUrl"].endswith(
        f"/dicomweb/studies/{source.StudyInstanceUID}/series/{body['seriesInstanceUid']}"
        f"/instances/{body['sopInstanceUid']}"
    )
    service = world.services.dicomweb
    rows, _ = service.search(
        QueryLevel.SERIES,
        [("Modality", "SR")],
        root_url="http://x/dicomweb",
        study_uid=source.StudyInstanceUID,
    )
    assert [row["0020000E"]["Value"][0] for row in rows] == [body["seriesInstanceUid"]]
    assert rows[0]["00201209"]["Value"] == [1]  # replaced, not duplicated
    (instance,) = service.instances(
        source.StudyInstanceUID, body["seriesInstanceUid"], body["sopInstanceUid"]
    )
    assert instance.job_id is None  # no job, no upload on the page
    assert world.jobs.get(JOB) is not None


def test_errors_have_stable_codes(world: FakeWorld) -> None:
    status, body = _report("f" * 32)
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    status, body = _report("not a job id")
    assert status in (400, 404)
    # a job not processed yet
    create_upload.handler(load_event("http_api_create_upload"), _context())
    status, body = _report()
    assert (status, body["error"]["code"]) == (409, "CONFLICT")
    status, body = _report(query="source=elsewhere")
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


def test_a_png_has_no_report(world: FakeWorld) -> None:
    out = io.BytesIO()
    Image.new("L", (96, 96), 128).save(out, format="PNG")
    _upload_and_process(world, out.getvalue(), PNG_NAME)
    status, body = _report()
    assert (status, body["error"]["code"]) == (422, "NOT_AN_IMAGE")


def test_the_deidentified_report_goes_with_the_deidentified_copy(world: FakeWorld) -> None:
    _upload_and_process(world, burned_in_file())
    # before the copy exists
    status, body = _report(query="source=deidentified")
    assert (status, body["error"]["code"]) == (409, "CONFLICT")
    deidentify.handler(_post("deidentify"), _context())
    status, body = _report(query="source=deidentified")
    assert status == 201, body
    assert body["wadoUrl"] is None
    assert body["url"].startswith(f"memory://derived/{JOB}/deidentified-report.dcm")
    copy = _dataset(world, f"derived/{JOB}/deidentified.dcm")
    report = _dataset(world, f"derived/{JOB}/deidentified-report.dcm")
    original = _dataset(world, f"uploads/{JOB}/image.dcm")
    assert report.StudyInstanceUID == copy.StudyInstanceUID != original.StudyInstanceUID
    assert report.PatientID == copy.PatientID != original.PatientID
    assert str(report.PatientName) == str(copy.PatientName)
    referenced = report.CurrentRequestedProcedureEvidenceSequence[0]
    sop = referenced.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert sop.ReferencedSOPInstanceUID == copy.SOPInstanceUID
    raw = world.blobs.objects[f"derived/{JOB}/deidentified-report.dcm"]
    for value in (original.StudyInstanceUID, original.SOPInstanceUID, original.PatientID):
        assert str(value).encode() not in raw
    assert b"HOLLOWAY" not in raw
    # and nothing was indexed for it
    assert world.services.instance_index.find_sop(report.SOPInstanceUID) is None


def test_dicomweb_off_means_no_report(world_settings: dict[str, Any]) -> None:
    world = FakeWorld(local_settings(**world_settings, dicomweb=False)).install()
    try:
        _upload_and_process(world, CT)
        status, body = _report()
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    finally:
        bootstrap.use_services(None)


def _auto_world(settings: dict[str, Any]) -> FakeWorld:
    """Automatic reports on, and an analysis that also finds a face (a boxed finding)."""
    world = FakeWorld(local_settings(**settings, reports_auto=True)).install()
    processor = world.services.processor
    analyze = processor._analyze

    def with_a_box(path: Path, options: Any) -> Any:
        analysis = analyze(path, options)
        face = Finding(
            kind="face", message="a face", boxes=(Box(left=0, top=0, width=0.5, height=0.5),)
        )
        result = analysis.result.model_copy(update={"findings": (*analysis.result.findings, face)})
        return type(analysis)(result=result, images=analysis.images)

    processor._analyze = with_a_box
    return world


def test_automatic_reports_are_written_after_the_analysis(world_settings: dict[str, Any]) -> None:
    world = _auto_world(world_settings)
    try:
        _upload_and_process(world, CT)
        job = world.jobs.get(JOB)
        assert job is not None
        assert job.status == "COMPLETED"
        report = _dataset(world, f"derived/{JOB}/analysis-report.dcm")
        assert report.Modality == "SR"
        assert world.services.instance_index.find_sop(report.SOPInstanceUID) is not None
    finally:
        bootstrap.use_services(None)


def test_a_failed_automatic_report_does_not_fail_the_job(world_settings: dict[str, Any]) -> None:
    world = _auto_world(world_settings)
    try:
        # Given a report that cannot be written
        def broken(*args: Any, **kwargs: Any) -> Any:
            raise DicomlensError(ErrorCode.INVALID_DICOM, "broken")

        world.services.reports.write_original = broken  # type: ignore[method-assign]
        # When a DICOM upload is processed
        _upload_and_process(world, CT)
        # Then the job completes, and says the report failed (with its code only)
        job = world.jobs.get(JOB)
        assert job is not None
        assert job.status == "COMPLETED"
        (failed,) = [f for f in (job.result or {})["findings"] if f["kind"] == REPORT_FAILED]
        assert "INVALID_DICOM" in failed["message"]
        assert f"derived/{JOB}/analysis-report.dcm" not in world.blobs.objects
    finally:
        bootstrap.use_services(None)
