"""The AWS processing path on moto: S3 -> SQS processing queue -> processImage (as the SQS
event source mapping calls it, with ReportBatchItemFailures) -> DynamoDB, plus the scheduled
sweeper and ``dicomlens redrive``.

moto delivers the bucket's notifications to the queue (not to Lambda), so the test receives
the messages and hands them to the real handler in the SQS event shape Lambda uses, then does
what the event source mapping does with the answer: deletes the messages that succeeded and
leaves the reported ones for a later delivery.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr
from pydicom.data import get_testdata_file

from aws_support import BUCKET, FAKE_AWS_ENV, REGION, TABLE, MotoAws, moto_in_process
from dicomlens import bootstrap
from dicomlens.adapters.aws import rekognition
from dicomlens.adapters.aws.dynamodb import DynamoJobStore
from dicomlens.adapters.aws.sqs_redelivery import SqsRedelivery
from dicomlens.cli.main import main
from dicomlens.config import Settings
from dicomlens.domain.jobs import Job, JobStatus
from dicomlens.handlers import process_image, sweep_jobs
from dicomlens.handlers.process_image import RETRY_FIRST_WAIT_S
from dicomlens.local.apigw import LocalLambdaContext
from fakes import FakeClock

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
LEASE_S = 330  # the processor's timeout (300 s) plus a margin
UPLOAD_EXPIRY_S = 900
GRACE_S = 1800
STUCK_S = 10800
CONTEXT = LocalLambdaContext(function_name="dicomlens-test-process-image")


@dataclass(kw_only=True)
class Stack:
    moto: MotoAws
    sqs: Any
    queue_url: str
    queue_arn: str
    failure_url: str
    clock: FakeClock
    settings: Settings
    waits: list[int] = field(default_factory=list)
    """Each redelivery wait the processor set on the queue (SQS accepted it)."""

    def end_waits(self, messages: list[dict[str, Any]]) -> None:
        """Make ``messages`` visible at once, as if their redelivery wait had passed."""
        for message in messages:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    @property
    def jobs(self) -> DynamoJobStore:
        jobs = bootstrap.get_services().jobs
        assert isinstance(jobs, DynamoJobStore)
        return jobs

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        assert job is not None
        return job

    def item(self, job_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.moto.dynamodb.get_item(
            TableName=TABLE, Key={"jobId": {"S": job_id}}, ConsistentRead=True
        )["Item"]
        return found

    def use(self, **changes: Any) -> None:
        """Rebuild the services with changed settings (same clock)."""
        self.settings = self.settings.model_copy(update=changes)
        bootstrap.use_services(bootstrap.build_services(self.settings, clock=self.clock))

    def upload(self, data: bytes = CT, *, content_type: str = "application/dicom") -> str:
        """A job granted by POST /uploads whose file S3 then stored; its id."""
        grant = bootstrap.get_services().uploads.create_upload(
            file_name="CT small.dcm", content_type=content_type, size=len(data)
        )
        self.moto.s3.put_object(
            Bucket=BUCKET, Key=grant.post.fields["key"], Body=data, ContentType=content_type
        )
        return grant.job_id

    def receive(self) -> list[dict[str, Any]]:
        """Every message now visible on the processing queue (S3's test event dropped)."""
        messages: dict[str, dict[str, Any]] = {}
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                VisibilityTimeout=0,  # visible again at once: the test plays the retries
            ).get("Messages", [])
            new = [message for message in batch if message["MessageId"] not in messages]
            if not new:
                return list(messages.values())
            for message in new:
                if "s3:TestEvent" in message["Body"]:
                    self.sqs.delete_message(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
                else:
                    messages[message["MessageId"]] = message

    def deliver(self, messages: list[dict[str, Any]]) -> list[str]:
        """Call the handler with ``messages`` as Lambda's SQS event; delete the successful
        ones as the event source mapping does; the ids reported for redelivery."""
        event = {"Records": [self._record(message) for message in messages]}
        answer = process_image.handler(event, CONTEXT)
        assert set(answer) == {"batchItemFailures"}
        failed = [entry["itemIdentifier"] for entry in answer["batchItemFailures"]]
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return failed

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with moto_in_process() as moto:
        sqs = boto3.client("sqs", region_name=REGION)
        failure_url = sqs.create_queue(QueueName="dicomlens-test-process-image-failures")[
            "QueueUrl"
        ]
        failure_arn = _arn(sqs, failure_url)
        queue_url = sqs.create_queue(
            QueueName="dicomlens-test-process-image",
            Attributes={
                "VisibilityTimeout": "1800",
                "RedrivePolicy": json.dumps(
                    # 5 in the template; the test's receive() receives each message twice
                    {"deadLetterTargetArn": failure_arn, "maxReceiveCount": 10}
                ),
            },
        )["QueueUrl"]
        queue_arn = _arn(sqs, queue_url)
        moto.s3.put_bucket_notification_configuration(
            Bucket=BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}
                        },
                    }
                ]
            },
        )
        clock = FakeClock(datetime.now(UTC))
        settings = Settings(
            mode="aws",
            bucket_name=BUCKET,
            table_name=TABLE,
            aws_region=REGION,
            analyzers=(),
            lease_timeout_s=LEASE_S,
            upload_expiry_s=UPLOAD_EXPIRY_S,
            upload_grace_s=GRACE_S,
            stuck_after_s=STUCK_S,
        )
        stack = Stack(
            moto=moto,
            sqs=sqs,
            queue_url=queue_url,
            queue_arn=queue_arn,
            failure_url=failure_url,
            clock=clock,
            settings=settings,
        )
        real_delay = SqsRedelivery.delay

        def recorded_delay(self: SqsRedelivery, arn: str, receipt: str, seconds: int) -> bool:
            accepted = real_delay(self, arn, receipt, seconds)
            assert accepted, "SQS refused ChangeMessageVisibility"
            stack.waits.append(seconds)
            return accepted

        monkeypatch.setattr(SqsRedelivery, "delay", recorded_delay)
        stack.use()
        try:
            yield stack
        finally:
            bootstrap.use_services(None)


def _arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


# ---------------------------------------------------------------- the processing path


def test_an_upload_notified_through_the_queue_completes(stack: Stack) -> None:
    # Given an upload whose S3 notification went to the processing queue
    job_id = stack.upload()
    (message,) = stack.receive()
    assert json.loads(message["Body"])["Records"][0]["eventSource"] == "aws:s3"

    # When the event source mapping hands it to the processor
    failed = stack.deliver([message])

    # Then the job completed, the message is done, and the job left the open-jobs index
    assert failed == []
    job = stack.job(job_id)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 1)
    assert stack.receive() == []
    assert "openStatus" not in stack.item(job_id)


def test_a_redelivery_while_leased_is_reported_and_one_after_the_lease_completes(
    stack: Stack,
) -> None:
    # Given a job a live attempt holds (claimed now, leased for the function's timeout)
    job_id = stack.upload()
    (message,) = stack.receive()
    assert stack.jobs.claim(job_id, now=stack.clock.now(), lease_s=LEASE_S) is not None

    # When the same message is delivered again, then it is a batch item failure, not a
    # success (if the live attempt dies, this message must finish the job) ...
    assert stack.deliver([message]) == [message["MessageId"]]
    job = stack.job(job_id)
    assert (job.status, job.attempts) == (JobStatus.PROCESSING, 1)
    # ... that comes back once the lease has run out, not after the queue's 1800 s ...
    assert stack.waits == [LEASE_S]
    assert stack.receive() == []  # invisible until then
    stack.end_waits([message])
    (again,) = stack.receive()  # ... and it is still on the queue
    assert again["MessageId"] == message["MessageId"]

    # When it comes again after the lease ran out (the attempt died), it re-claims the job
    stack.clock.advance(LEASE_S + 1)
    assert stack.deliver([again]) == []
    job = stack.job(job_id)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    assert stack.receive() == []


class ThrottledRekognition:
    """A Rekognition client whose every call is throttled (after botocore's retries)."""

    def _throttled(self, operation: str) -> ClientError:
        return ClientError(
            {
                "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            operation,
        )

    def detect_labels(self, **kwargs: Any) -> Any:
        raise self._throttled("DetectLabels")

    def detect_text(self, **kwargs: Any) -> Any:
        raise self._throttled("DetectText")


def test_rekognition_throttling_is_retried_not_failed_nor_an_analyzer_failed_finding(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment with Rekognition on, and Rekognition throttling
    monkeypatch.setattr(rekognition, "_client", lambda region: ThrottledRekognition())
    stack.use(rekognition=True)
    job_id = stack.upload()
    (message,) = stack.receive()

    # When the message is processed
    failed = stack.deliver([message])

    # Then the message is reported for redelivery and the job is released, not FAILED
    assert failed == [message["MessageId"]]
    job = stack.job(job_id)
    assert job.status is JobStatus.PROCESSING
    assert (job.error, job.result, job.lease_until) == (None, None, None)
    # and it comes back after a backoff that doubles with each receive, not after 1800 s
    assert stack.waits == [RETRY_FIRST_WAIT_S]
    assert stack.receive() == []
    stack.end_waits([message])
    (second,) = stack.receive()
    assert stack.deliver([second]) == [message["MessageId"]]
    received = int(second["Attributes"]["ApproximateReceiveCount"])
    assert received > 1
    assert stack.waits == [RETRY_FIRST_WAIT_S, RETRY_FIRST_WAIT_S * 2 ** (received - 1)]
    stack.end_waits([second])

    # When Rekognition answers again, the redelivery completes the job without an
    # analyzer-failed finding
    monkeypatch.setattr(rekognition, "_client", lambda region: _moto_rekognition())
    (again,) = stack.receive()
    assert stack.deliver([again]) == []
    job = stack.job(job_id)
    assert job.status is JobStatus.COMPLETED
    assert job.result is not None
    kinds = {finding["kind"] for finding in job.result.get("findings", [])}
    assert "analyzer-failed" not in kinds
    assert any(label["source"] == "rekognition" for label in job.result["labels"])


class _MotoRekognition:
    """moto's Rekognition (DetectLabels, DetectText), with DetectFaces, which moto does not
    implement, answered by a recorded response (one face)."""

    def __init__(self) -> None:
        self._client = boto3.client("rekognition", region_name=REGION)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def detect_faces(self, **kwargs: Any) -> dict[str, Any]:
        box = {"Width": 0.25, "Height": 0.3, "Left": 0.4, "Top": 0.2}
        return {"FaceDetails": [{"BoundingBox": box, "Confidence": 99.9}]}


def _moto_rekognition() -> Any:
    return _MotoRekognition()


def test_a_file_error_fails_the_job_with_its_code_and_the_message_is_done(stack: Stack) -> None:
    job_id = stack.upload(b"this is not an image, only text " * 4)
    (message,) = stack.receive()
    assert stack.deliver([message]) == []
    job = stack.job(job_id)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.code == "NOT_AN_IMAGE"
    assert stack.receive() == []


# ---------------------------------------------------------------- the sweeper


def test_the_sweeper_ends_stuck_and_abandoned_jobs_through_the_index_without_a_scan(
    stack: Stack,
) -> None:
    client = stack.jobs._db
    queries: list[dict[str, Any]] = []

    def no_scan(**kwargs: Any) -> None:
        raise AssertionError("the sweeper scanned the table")

    client.meta.events.register("provide-client-params.dynamodb.Scan", no_scan)
    client.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **kwargs: queries.append(params)
    )
    # Given an upload ticket never used, and a job whose attempt died with no retry left
    abandoned = (
        bootstrap.get_services()
        .uploads.create_upload(file_name="never.dcm", content_type="application/dicom", size=10)
        .job_id
    )
    stuck = stack.upload()
    stack.receive()  # its message went to the failure queue long ago
    assert stack.jobs.claim(stuck, now=stack.clock.now(), lease_s=LEASE_S) is not None
    # ... and, much later, a job just claimed and a ticket just granted
    stack.clock.advance(LEASE_S + STUCK_S + 1)
    live = stack.upload()
    assert stack.jobs.claim(live, now=stack.clock.now(), lease_s=LEASE_S) is not None
    fresh = (
        bootstrap.get_services()
        .uploads.create_upload(file_name="soon.dcm", content_type="application/dicom", size=10)
        .job_id
    )

    # When the scheduled sweeper runs
    answer = sweep_jobs.handler({"source": "aws.events"}, CONTEXT)

    # Then the stuck job FAILED with PROCESSING_TIMEOUT, the abandoned one EXPIRED, the live
    # and the fresh ones are untouched; it queried the open-jobs index and never scanned
    assert answer == {"expired": 1, "timedOut": 1}
    failed = stack.job(stuck)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.code == "PROCESSING_TIMEOUT"
    assert stack.job(abandoned).status is JobStatus.EXPIRED
    assert stack.job(live).status is JobStatus.PROCESSING
    assert stack.job(fresh).status is JobStatus.PENDING
    assert {q["IndexName"] for q in queries} == {"open-jobs"}
    assert len(queries) >= 2
    for job_id in (stuck, abandoned):
        assert "openStatus" not in stack.item(job_id)  # ended jobs leave the sparse index
    assert stack.item(live)["openStatus"] == {"S": "PROCESSING"}


def test_index_open_jobs_lets_the_sweeper_see_jobs_stored_before_its_index(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given jobs stored by a version without the open-jobs index: an abandoned ticket, a
    # stuck attempt and a finished job, none with openStatus/openSince
    abandoned = (
        bootstrap.get_services()
        .uploads.create_upload(file_name="never.dcm", content_type="application/dicom", size=10)
        .job_id
    )
    stuck = stack.upload()
    finished = stack.upload()
    (message,) = [m for m in stack.receive() if finished in m["Body"]]
    assert stack.deliver([message]) == []
    assert stack.jobs.claim(stuck, now=stack.clock.now(), lease_s=LEASE_S) is not None
    for job_id in (abandoned, stuck, finished):
        stack.moto.dynamodb.update_item(
            TableName=TABLE,
            Key={"jobId": {"S": job_id}},
            UpdateExpression="REMOVE openStatus, openSince",
        )
    stack.clock.advance(LEASE_S + STUCK_S + 1)
    assert sweep_jobs.handler({"source": "aws.events"}, CONTEXT) == {"expired": 0, "timedOut": 0}
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName="dicomlens-test",
        TemplateBody=json.dumps(
            {
                "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"TableName": {"Value": TABLE}},
            }
        ),
    )

    # When index-open-jobs runs once for that stage
    assert main(["index-open-jobs", "--stage", "test", "--region", REGION]) == 0

    # Then the two open jobs are indexed (the finished one is not), and the sweeper ends them
    assert "indexed 2 open jobs" in capsys.readouterr().out
    assert stack.item(abandoned)["openStatus"] == {"S": "PENDING"}
    assert stack.item(stuck)["openStatus"] == {"S": "PROCESSING"}
    assert "openStatus" not in stack.item(finished)
    assert sweep_jobs.handler({"source": "aws.events"}, CONTEXT) == {"expired": 1, "timedOut": 1}
    assert stack.job(finished).status is JobStatus.COMPLETED
    # A second run finds nothing left to index
    assert main(["index-open-jobs", "--stage", "test", "--region", REGION]) == 0
    assert "indexed 0 open jobs" in capsys.readouterr().out


# ---------------------------------------------------------------- dicomlens redrive


def test_redrive_moves_the_failure_queues_messages_to_the_processing_queue(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stack whose outputs name both queues, and three messages in the failure queue
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "ProcessingQueueUrl": {"Value": stack.queue_url},
            "FailureQueueUrl": {"Value": stack.failure_url},
        },
    }
    cloudformation.create_stack(StackName="dicomlens-test", TemplateBody=json.dumps(template))
    bodies = {json.dumps({"n": n}) for n in range(3)}
    for body in bodies:
        stack.sqs.send_message(QueueUrl=stack.failure_url, MessageBody=body)

    # When dicomlens redrive runs for that stage
    code = main(["redrive", "--stage", "test", "--region", REGION])

    # Then every message moved: gone from the failure queue, on the processing queue
    assert code == 0
    assert "moved 3 messages" in capsys.readouterr().out
    moved = {message["Body"] for message in stack.receive()}
    assert moved == bodies
    left = stack.sqs.receive_message(QueueUrl=stack.failure_url, MaxNumberOfMessages=10)
    assert left.get("Messages", []) == []


def test_redrive_moves_at_most_max_messages_and_needs_the_stack_outputs(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.receive() == []  # S3's test message, dropped: the processing queue is empty
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName="dicomlens-old",
        TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
    )
    # A stack without the queue outputs (deployed before them) is a usage error
    assert main(["redrive", "--stage", "old", "--region", REGION]) == 2
    assert "ProcessingQueueUrl" in capsys.readouterr().err

    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "ProcessingQueueUrl": {"Value": stack.queue_url},
            "FailureQueueUrl": {"Value": stack.failure_url},
        },
    }
    cloudformation.create_stack(StackName="dicomlens-test", TemplateBody=json.dumps(template))
    for n in range(12):
        stack.sqs.send_message(QueueUrl=stack.failure_url, MessageBody=json.dumps({"n": n}))
    assert main(["redrive", "--stage", "test", "--region", REGION, "--max-messages", "11"]) == 0
    assert "moved 11 messages" in capsys.readouterr().out
    assert _waiting(stack.sqs, stack.queue_url) == 11
    assert _waiting(stack.sqs, stack.failure_url) == 1
    assert main(["redrive", "--stage", "test", "--region", REGION]) == 0
    assert "moved 1 message from" in capsys.readouterr().out
    assert (_waiting(stack.sqs, stack.queue_url), _waiting(stack.sqs, stack.failure_url)) == (12, 0)


def _waiting(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_the_version_the_event_names_is_analysed_and_de_identified_not_a_later_repost(
    stack: Stack,
) -> None:
    # Given a versioned upload bucket, a file posted, then the same key posted again within
    # the form's lifetime with other bytes of the same size (not an image)
    stack.moto.s3.put_bucket_versioning(
        Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
    )
    job_id = stack.upload(CT)
    key = stack.job(job_id).upload_key
    first = stack.moto.s3.head_object(Bucket=BUCKET, Key=key)["VersionId"]
    stack.moto.s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * len(CT))
    messages = stack.receive()
    assert len(messages) == 2
    # S3 names the version in each notification; moto leaves versionId out, so the test
    # adds it as S3 does, matching each message to its version by the object's ETag
    versions = stack.moto.s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]
    version_by_etag = {v["ETag"].strip('"'): v["VersionId"] for v in versions}
    by_version = {}
    for message in messages:
        body = json.loads(message["Body"])
        s3_object = body["Records"][0]["s3"]["object"]
        s3_object["versionId"] = version_by_etag[s3_object["eTag"]]
        by_version[s3_object["versionId"]] = {**message, "Body": json.dumps(body)}

    # When the first version's event is processed, then that version is what was analysed
    assert stack.deliver([by_version[first]]) == []
    job = stack.job(job_id)
    assert job.status is JobStatus.COMPLETED, job.error
    assert job.upload_version == first
    # And the re-post's event finds the job finished (acknowledged, nothing changes)
    (second,) = [m for v, m in by_version.items() if v != first]
    assert stack.deliver([second]) == []
    assert stack.job(job_id).upload_version == first
    # And de-identification reads the analysed version, not the re-posted bytes
    stack.use(deid_secret=SecretStr("k" * 64), deid_pixel_text="off")
    copy = bootstrap.get_services().deidentification.deidentify(job_id)
    assert copy.url
