"""The whole upload flow through the packaged Lambda functions, in a Lambda-like Python.

Used by tests/integration/test_template_tools.py once it has taken the zips exactly as
``sam package`` uploaded them: the layer unzipped as ``/opt`` (``opt/python``), each
function's code as its task root, a clean Python 3.12 holding only the boto3 the runtime
ships. Each invocation is a fresh process (a cold start) that imports the handler named in
the template and calls it with the event shape AWS sends, against a local moto server:

create upload (HTTP API event) -> the browser's multipart POST to the presigned S3 form ->
S3's notification on the processing queue -> process image (the SQS event the event source
mapping sends) -> get results (HTTP API event; the preview's presigned GET works) ->
de-identify (HTTP API event; the key from Secrets Manager; the copy downloads) -> the
sweeper (the scheduled event). The resources are those of the stack CloudFormation created
from the packaged template (``stack_on_moto``), and each function runs with the
environment that stack gave it.

Rekognition stays off here (moto has no DetectFaces); the Rekognition paths are exercised
in-process by tests/integration/test_aws_handlers.py and test_aws_jobs.py.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from pydicom import dcmread
from pydicom.data import get_testdata_file
from stack_on_moto import DeployedStack

from aws_support import REGION

EVENTS = Path(__file__).resolve().parents[1] / "events"
CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
RESULT_MARK = "@@RESULT@@"
MOTO_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

RUNNER = """
import importlib, json, sys, uuid

class Context:
    function_name = sys.argv[3]
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{sys.argv[3]}"
    aws_request_id = str(uuid.uuid4())
    log_group_name = f"/aws/lambda/{sys.argv[3]}"
    log_stream_name = "2026/12/06/[$LATEST]0"

    def get_remaining_time_in_millis(self):
        return 300000

module, function = sys.argv[1].rsplit(".", 1)
handler = getattr(importlib.import_module(module), function)
with open(sys.argv[2]) as event_file:
    event = json.load(event_file)
print("@@RESULT@@" + json.dumps(handler(event, Context())))
"""


@dataclass(frozen=True, kw_only=True)
class Packaged:
    """The packaged functions, laid out as Lambda runs them."""

    python: Path  # the clean Python 3.12's interpreter
    opt: Path  # the layer, unzipped
    handlers: dict[str, tuple[Path, str]]  # logical id -> (task root, handler)
    work: Path


def _stack_queue(stack: DeployedStack, endpoint: str) -> dict[str, str]:
    """The stack's processing queue: URL and ARN."""
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION, **MOTO_CREDENTIALS)
    url = stack.outputs["ProcessingQueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return {"queue_url": url, "queue_arn": arn}


def invoke(
    packaged: Packaged, name: str, event: dict[str, Any], env: dict[str, str]
) -> dict[str, Any]:
    """Invoke function ``name`` with ``event`` in a fresh Lambda-like process; its answer."""
    task, handler = packaged.handlers[name]
    event_file = packaged.work / f"{name}-event.json"
    event_file.write_text(json.dumps(event))
    result = subprocess.run(
        [str(packaged.python), "-c", RUNNER, handler, str(event_file), name],
        cwd=task,
        env={
            **env,
            "PATH": os.environ["PATH"],
            "PYTHONPATH": f"{task}{os.pathsep}{packaged.opt / 'python'}",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "_HANDLER": handler,
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{name}: {result.stderr[-4000:]}"
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARK)]
    answer: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
    return answer


def _api_event(template: str, *, method: str, path: str, body: str | None = None) -> Any:
    event = copy.deepcopy(json.loads((EVENTS / f"{template}.json").read_text()))
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    if body is not None:
        event["body"] = body
        event["isBase64Encoded"] = False
    return event


def _job_event(job_id: str, *, deidentify: bool = False) -> Any:
    path = f"/jobs/{job_id}/deidentify" if deidentify else f"/jobs/{job_id}"
    event = _api_event("http_api_get_job", method="POST" if deidentify else "GET", path=path)
    event["pathParameters"] = {"jobId": job_id}
    route = "POST /jobs/{jobId}/deidentify" if deidentify else "GET /jobs/{jobId}"
    event["routeKey"] = event["requestContext"]["routeKey"] = route
    return event


def run_flow(packaged: Packaged, endpoint: str, stack: DeployedStack) -> dict[str, Any]:
    """The whole flow against ``stack`` (created from the packaged template on the moto
    server at ``endpoint``): its resources, each function with the environment the stack
    gave it, Rekognition and the pixel text search off (moto has no DetectFaces). What it
    saw (asserting along the way)."""
    base = {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": endpoint,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    local = {
        "DICOMLENS_S3_ENDPOINT_URL": endpoint,
        "DICOMLENS_DYNAMODB_ENDPOINT_URL": endpoint,
        "DICOMLENS_REKOGNITION": "false",
        "DICOMLENS_DEID_PIXEL_TEXT": "off",
    }
    made = _stack_queue(stack, endpoint)
    envs = {}
    for name, (_task, handler) in packaged.handlers.items():
        configuration = stack.functions[name]
        assert configuration["Handler"] == handler, name
        variables = configuration.get("Environment", {}).get("Variables", {})
        # CloudFormation passes every variable as text (moto keeps a Number parameter's int)
        as_text = {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in variables.items()
        }
        envs[name] = {**base, **as_text, **local}

    def call(name: str, event: dict[str, Any]) -> dict[str, Any]:
        return invoke(packaged, name, event, envs[name])

    # create upload: the HTTP API event of the page's POST /uploads
    body = json.dumps(
        {"fileName": "CT small.dcm", "contentType": "application/dicom", "size": len(CT)}
    )
    created = call(
        "CreateUploadFunction",
        _api_event("http_api_create_upload", method="POST", path="/uploads", body=body),
    )
    assert created["statusCode"] == 201, created
    ticket = json.loads(created["body"])
    # the browser's multipart POST to the presigned form
    posted = requests.post(
        ticket["upload"]["url"],
        data=ticket["upload"]["fields"],
        files={"file": ("CT small.dcm", CT, "application/dicom")},
        timeout=60,
    )
    assert posted.status_code in (200, 201, 204), posted.text
    # S3's notification on the processing queue, as the event source mapping delivers it
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        **MOTO_CREDENTIALS,
    )
    messages = [
        m
        for m in sqs.receive_message(
            QueueUrl=made["queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=5
        ).get("Messages", [])
        if "s3:TestEvent" not in m["Body"]
    ]
    assert len(messages) == 1, messages
    (message,) = messages
    sqs_event = {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": made["queue_arn"],
                "awsRegion": REGION,
            }
        ]
    }
    processed = call("ProcessImageFunction", sqs_event)
    assert processed == {"batchItemFailures": []}, processed
    # get results: COMPLETED, with a preview the browser can fetch
    job_id = ticket["jobId"]
    read = call("GetResultsFunction", _job_event(job_id))
    assert read["statusCode"] == 200, read
    job = json.loads(read["body"])
    assert job["status"] == "COMPLETED", job
    preview = requests.get(job["urls"]["preview"], timeout=60)
    assert preview.status_code == 200
    assert preview.content.startswith(b"\x89PNG")
    # de-identify: keyed by the Secrets Manager secret; the copy downloads and is anonymous
    deidentified = call("DeidentifyFunction", _job_event(job_id, deidentify=True))
    assert deidentified["statusCode"] == 201, deidentified
    download = requests.get(json.loads(deidentified["body"])["url"], timeout=60)
    assert download.status_code == 200
    out = dcmread(io.BytesIO(download.content))
    assert out.PatientIdentityRemoved == "YES"
    assert str(out.get("PatientName", "")) != "CompressedSamples^CT1"
    # the sweeper, on its schedule's event
    scheduled = {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-06T06:00:00Z",
        "region": REGION,
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/dicomlens-flow-sweep-jobs"],
        "detail": {},
    }
    swept = call("SweepJobsFunction", scheduled)
    return {"job": job, "swept": swept}
