"""The handlers end to end in AWS mode, on moto: an API Gateway event creates the upload,
a real HTTP multipart POST goes to the presigned POST URL, the processor gets the S3
ObjectCreated event for that key, and the results handler returns the result with working
presigned GET URLs; the de-identification handler keys its profile with the Secrets Manager
secret named by the deployment.

moto cannot deliver S3 notifications to Lambda without Docker, so the test builds the S3 event
for the stored key the way S3 does (URL-encoded key) from tests/events/s3_object_created.json.
Over HTTP (ThreadedMotoServer) and in-process (mock_aws).
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import numpy as np
import pytest
import requests
from PIL import Image as PILImage
from pydantic import SecretStr
from pydicom import dcmread
from pydicom.data import get_testdata_file

from aws_support import BUCKET, FAKE_AWS_ENV, REGION, TABLE, MotoAws, moto_in_process, moto_server
from corpus.generate import grey_dataset, to_bytes
from dicomlens import bootstrap
from dicomlens.adapters.aws.dynamodb import DynamoJobStore
from dicomlens.adapters.aws.s3 import S3BlobStore
from dicomlens.config import Settings
from dicomlens.handlers import create_upload, deidentify, get_results, process_image
from dicomlens.local.apigw import LocalLambdaContext
from fakes import load_event

CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
SITE = "https://d111111abcdef8.cloudfront.net"


@pytest.fixture(params=["moto-server", "moto"])
def aws(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoAws]:
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    start: Callable[[], AbstractContextManager[MotoAws]] = (
        moto_server if request.param == "moto-server" else moto_in_process
    )
    with start() as aws:
        settings = Settings(
            mode="aws",
            bucket_name=BUCKET,
            table_name=TABLE,
            aws_region=REGION,
            s3_endpoint_url=aws.endpoint_url,
            dynamodb_endpoint_url=aws.endpoint_url,
            site_origin=SITE,
            analyzers=(),
        )
        services = bootstrap.build_services(settings)
        assert isinstance(services.blobs, S3BlobStore)
        assert isinstance(services.jobs, DynamoJobStore)
        bootstrap.use_services(services)
        try:
            yield aws
        finally:
            bootstrap.use_services(None)


def call(module: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = module.handler(event, LocalLambdaContext(function_name="test-function"))
    return response["statusCode"], json.loads(response["body"])


def s3_event_for(key: str) -> dict[str, Any]:
    """The ObjectCreated event S3 sends for ``key`` (keys arrive URL-encoded)."""
    event = copy.deepcopy(load_event("s3_object_created"))
    record = event["Records"][0]
    record["awsRegion"] = REGION
    record["s3"]["bucket"]["name"] = BUCKET
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{BUCKET}"
    record["s3"]["object"]["key"] = quote_plus(key)
    record["s3"]["object"]["size"] = len(CT)
    return event


def test_upload_process_and_read_results_through_the_handlers(aws: MotoAws) -> None:
    # Given an upload ticket from POST /uploads
    event = load_event("http_api_create_upload")
    event["body"] = json.dumps(
        {"fileName": "CT small.dcm", "contentType": "application/dicom", "size": len(CT)}
    )
    status, ticket = call(create_upload, event)
    assert status == 201, ticket
    job_id = ticket["jobId"]
    fields = ticket["upload"]["fields"]
    key = fields["key"]
    assert key == f"uploads/{job_id}/CT_small.dcm"
    if aws.endpoint_url is None:
        assert ticket["upload"]["url"].startswith(f"https://{BUCKET}.s3.{REGION}.amazonaws.com")

    # When the browser posts the file as multipart form data to the presigned URL
    posted = requests.post(
        ticket["upload"]["url"],
        data=fields,
        files={"file": ("CT small.dcm", CT, "application/dicom")},
        timeout=60,
    )
    assert posted.status_code in (200, 201, 204), posted.text
    assert aws.s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(CT)

    # ... and S3 notifies the processor of the new object
    summary = process_image.handler(
        s3_event_for(key), LocalLambdaContext(function_name="test-function")
    )
    assert job_id in json.dumps(summary)

    # Then GET /jobs/{jobId} returns the completed result with readable derived images
    get_event = load_event("http_api_get_job")
    get_event["rawPath"] = f"/jobs/{job_id}"
    get_event["pathParameters"] = {"jobId": job_id}
    status, job = call(get_results, get_event)
    assert status == 200, job
    assert job["status"] == "COMPLETED", job
    assert job["result"]["summary"]["modality"] == "CT"
    assert any(label["source"] == "dicom-tags" for label in job["result"]["labels"])
    assert "phi" not in job["result"]  # PHI stays hidden by default
    assert "X-Amz-Signature" in job["urls"]["preview"]
    for name in ("preview", "thumbnail"):
        response = requests.get(job["urls"][name], timeout=60)
        assert response.status_code == 200, name
        assert response.content.startswith(b"\x89PNG")
    original = requests.get(job["urls"]["original"], timeout=60)
    assert original.content == CT

    # A repeated event is a no-op: the job stays completed once
    process_image.handler(s3_event_for(key), LocalLambdaContext(function_name="test-function"))
    item = aws.dynamodb.get_item(TableName=TABLE, Key={"jobId": {"S": job_id}}, ConsistentRead=True)
    assert item["Item"]["status"]["S"] == "COMPLETED"
    assert item["Item"]["attempts"]["N"] == "1"
    assert "expiresAt" not in item["Item"]  # the ticket TTL is gone once the upload arrived


def test_an_unknown_job_is_404(aws: MotoAws) -> None:
    del aws
    event = load_event("http_api_get_job")
    missing = "f" * 32
    event["rawPath"] = f"/jobs/{missing}"
    event["pathParameters"] = {"jobId": missing}
    status, body = call(get_results, event)
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"


def _upload_and_process(aws: MotoAws, data: bytes = CT) -> str:
    """A DICOM file (the CT unless ``data``) uploaded through POST /uploads and processed;
    its job id."""
    event = load_event("http_api_create_upload")
    event["body"] = json.dumps(
        {"fileName": "CT small.dcm", "contentType": "application/dicom", "size": len(data)}
    )
    status, ticket = call(create_upload, event)
    assert status == 201, ticket
    fields = ticket["upload"]["fields"]
    posted = requests.post(
        ticket["upload"]["url"],
        data=fields,
        files={"file": ("CT small.dcm", data, "application/dicom")},
        timeout=60,
    )
    assert posted.status_code in (200, 201, 204), posted.text
    process_image.handler(
        s3_event_for(fields["key"]), LocalLambdaContext(function_name="test-function")
    )
    job_id: str = ticket["jobId"]
    return job_id


def _job_event(job_id: str, *, deidentify: bool = False) -> dict[str, Any]:
    event = load_event("http_api_get_job")
    path = f"/jobs/{job_id}/deidentify" if deidentify else f"/jobs/{job_id}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = {"jobId": job_id}
    if deidentify:
        event["routeKey"] = event["requestContext"]["routeKey"] = "POST /jobs/{jobId}/deidentify"
        event["requestContext"]["http"]["method"] = "POST"
    return event


def test_deidentify_keys_the_profile_with_the_secrets_manager_secret(
    aws: MotoAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a processed DICOM job, in a deployment that names no key yet
    job_id = _upload_and_process(aws)
    status, body = call(deidentify, _job_event(job_id, deidentify=True))
    assert (status, body["error"]["code"]) == (422, "DEIDENTIFICATION_FAILED")

    # When the deployment names the Secrets Manager secret holding the key
    if aws.endpoint_url is not None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", aws.endpoint_url)
    secrets = boto3.session.Session().client(
        "secretsmanager", region_name=REGION, endpoint_url=aws.endpoint_url
    )
    arn = secrets.create_secret(Name="dicomlens-test-deid-key", SecretString="k" * 64)["ARN"]
    settings = bootstrap.get_services().settings.model_copy(
        update={"deid_secret_arn": arn, "deid_pixel_text": "off"}
    )
    bootstrap.use_services(bootstrap.build_services(settings))
    status, body = call(deidentify, _job_event(job_id, deidentify=True))

    # Then the de-identified copy is stored under derived/ and shown by GET /jobs/{jobId}
    assert status == 201, body
    assert bootstrap.get_services().deid_profile.secret == b"k" * 64
    copy_bytes = requests.get(body["url"], timeout=60).content
    out = dcmread(io.BytesIO(copy_bytes))
    assert out.PatientIdentityRemoved == "YES"
    status, job = call(get_results, _job_event(job_id))
    assert status == 200
    assert f"derived/{job_id}/deidentified.dcm" in job["urls"]["deidentified"]


class _BrightTextRekognition:
    """Stands in for Rekognition DetectText: pixels far brighter than the image's median
    are one LINE of text (in whatever orientation the image arrives)."""

    def __init__(self) -> None:
        self.calls = 0

    def detect_text(self, Image: dict[str, bytes], Filters: Any) -> dict[str, Any]:  # noqa: N803 - boto3's names
        self.calls += 1
        pixels = np.asarray(PILImage.open(io.BytesIO(Image["Bytes"])).convert("L"), dtype=float)
        ys, xs = np.nonzero(pixels > np.median(pixels) + 100)
        if ys.size == 0:
            return {"TextDetections": []}
        rows, columns = pixels.shape
        box = {
            "Left": xs.min() / columns,
            "Top": ys.min() / rows,
            "Width": (xs.max() - xs.min() + 1) / columns,
            "Height": (ys.max() - ys.min() + 1) / rows,
        }
        line = {"DetectedText": "DOE^JANE", "Type": "LINE", "Id": 0, "Confidence": 99.0}
        return {"TextDetections": [{**line, "Geometry": {"BoundingBox": box}}]}


def _text_on_a_dark_image() -> bytes:
    """A 256x256 image, a dim gradient with a white label (rows 220-231, columns 20-99)."""
    y, x = np.mgrid[0:256, 0:256]
    pixels = (30 + (x + y) * 30 / 510).astype(np.uint8)
    pixels[220:232, 20:100] = 250
    return to_bytes(grey_dataset(9301, pixels, bits_stored=8))


def _deidentify_with_rekognition() -> None:
    """Rebuild the services as a deployment with Rekognition on, pixel text required and a
    de-identification key."""
    settings = bootstrap.get_services().settings.model_copy(
        update={
            "rekognition": True,
            "deid_pixel_text": "required",
            "deid_secret": SecretStr("k" * 64),
        }
    )
    bootstrap.use_services(bootstrap.build_services(settings))


@pytest.mark.parametrize("aws", ["moto"], indirect=True)
def test_deidentify_on_aws_searches_pixels_with_rekognition_before_it_certifies(
    aws: MotoAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a processed file with burned-in text, on a deployment with Rekognition on
    job_id = _upload_and_process(aws, _text_on_a_dark_image())
    rekognition = _BrightTextRekognition()
    monkeypatch.setattr("dicomlens.adapters.aws.rekognition._client", lambda region: rekognition)
    _deidentify_with_rekognition()
    # When it is de-identified
    status, body = call(deidentify, _job_event(job_id, deidentify=True))
    # Then DetectText located the label, it was blacked out, and the copy is certified
    assert status == 201, body
    assert rekognition.calls >= 6  # search and verification, several orientations
    out = dcmread(io.BytesIO(requests.get(body["url"], timeout=60).content))
    assert out.BurnedInAnnotation == "NO"
    assert int(out.pixel_array[220:232, 20:100].max()) < 100
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert "113101" in codes  # Clean Pixel Data


@pytest.mark.parametrize("aws", ["moto"], indirect=True)
def test_deidentify_on_aws_refuses_when_text_is_still_located_after_redaction(
    aws: MotoAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a DetectText that reports a line on every image, redacted or not
    job_id = _upload_and_process(aws, _text_on_a_dark_image())

    class AlwaysText(_BrightTextRekognition):
        def detect_text(self, Image: dict[str, bytes], Filters: Any) -> dict[str, Any]:  # noqa: N803
            box = {"Left": 0.5, "Top": 0.1, "Width": 0.2, "Height": 0.05}
            line = {"DetectedText": "DOE^JANE", "Type": "LINE", "Id": 0, "Confidence": 99.0}
            return {"TextDetections": [{**line, "Geometry": {"BoundingBox": box}}]}

    monkeypatch.setattr("dicomlens.adapters.aws.rekognition._client", lambda region: AlwaysText())
    _deidentify_with_rekognition()
    # Then nothing is certified: the request is refused with the stable code
    status, body = call(deidentify, _job_event(job_id, deidentify=True))
    assert (status, body["error"]["code"]) == (422, "REDACTION_INCOMPLETE")
