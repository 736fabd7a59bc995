"""What the S3 and DynamoDB adapters put on the wire, without a network: SigV4 presigned
URLs for the bucket's region, POST policies with every condition, path-style URLs for an
S3-compatible endpoint, exact Decimals for DynamoDB, and ClientErrors as domain errors.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.stub import ANY, Stubber

from dicomlens.adapters.aws.clients import make_client
from dicomlens.adapters.aws.dynamodb import (
    DynamoJobStore,
    from_dynamo_value,
    item_to_job,
    job_to_item,
    to_dynamo_value,
)
from dicomlens.adapters.aws.s3 import S3BlobStore
from dicomlens.domain import jobs as rules
from dicomlens.domain.errors import DicomlensError, ErrorCode
from fakes import FakeClock

KEY = "uploads/0123456789abcdef0123456789abcdef/scan.dcm"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",  # noqa: S106 - signing only, never sent
        region_name="ap-southeast-2",
    )


def s3_store(endpoint_url: str | None = None) -> S3BlobStore:
    client = make_client(
        "s3", region="ap-southeast-2", endpoint_url=endpoint_url, session=session()
    )
    return S3BlobStore(client, bucket="dicomlens-dev-uploads", clock=FakeClock(T0))


def test_presigned_post_is_sigv4_for_the_bucket_region_with_every_condition() -> None:
    post = s3_store().presign_post(
        key=KEY, content_type="application/dicom", max_bytes=1000, expires_in_s=900
    )
    assert post.url == "https://dicomlens-dev-uploads.s3.ap-southeast-2.amazonaws.com/"
    assert post.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert "/ap-southeast-2/s3/aws4_request" in post.fields["x-amz-credential"]
    assert post.fields["key"] == KEY
    assert post.fields["Content-Type"] == "application/dicom"
    assert post.expires_at == datetime(2026, 1, 2, 3, 19, 5, tzinfo=UTC)
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1, 1000] in conditions
    assert {"Content-Type": "application/dicom"} in conditions
    assert {"key": KEY} in conditions
    assert {"bucket": "dicomlens-dev-uploads"} in conditions


def test_presigned_get_is_regional_sigv4_and_names_the_download() -> None:
    url = s3_store().presign_get(KEY, expires_in_s=300, download_name='scan "1".dcm')
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.netloc == "dicomlens-dev-uploads.s3.ap-southeast-2.amazonaws.com"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "/ap-southeast-2/s3/aws4_request" in query["X-Amz-Credential"][0]
    assert query["X-Amz-Expires"] == ["300"]
    assert query["response-content-disposition"] == ['attachment; filename="scan 1.dcm"']


def test_an_s3_compatible_endpoint_gets_path_style_urls() -> None:
    store = s3_store(endpoint_url="http://127.0.0.1:9000")
    url = store.presign_get(KEY, expires_in_s=60)
    assert url.startswith(f"http://127.0.0.1:9000/dicomlens-dev-uploads/{KEY}?")
    post = store.presign_post(key=KEY, content_type="image/png", max_bytes=10, expires_in_s=60)
    assert post.url == "http://127.0.0.1:9000/dicomlens-dev-uploads"


@pytest.fixture
def stubbed_s3() -> Iterator[tuple[S3BlobStore, Stubber]]:
    store = s3_store()
    with Stubber(store._s3) as stubber:
        yield store, stubber


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, ErrorCode.NOT_FOUND),
        ("SlowDown", 503, ErrorCode.SERVICE_UNAVAILABLE),  # transient: retried, not failed
        ("AccessDenied", 403, ErrorCode.INTERNAL),
    ],
)
def test_read_errors_become_domain_errors_raised_from_the_client_error(
    stubbed_s3: tuple[S3BlobStore, Stubber], code: str, status: int, expected: ErrorCode
) -> None:
    store, stubber = stubbed_s3
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)
    with pytest.raises(DicomlensError) as caught, store.local_copy(KEY):
        pass
    assert caught.value.code is expected
    assert caught.value.__cause__ is not None
    assert KEY not in caught.value.message  # keys may carry a file name


def test_results_are_stored_with_exact_decimals_and_read_back_as_numbers() -> None:
    result: dict[str, Any] = {"window": {"center": 40.5, "width": 400}, "labels": [{"c": 0.1}]}
    stored = to_dynamo_value(result)
    assert stored["window"]["center"] == Decimal("40.5")
    assert stored["labels"][0]["c"] == Decimal("0.1")  # not 0.1000000000000000055...
    assert from_dynamo_value(stored) == result
    assert isinstance(from_dynamo_value(stored)["window"]["width"], int)


def test_a_pending_job_carries_the_ticket_ttl_and_round_trips() -> None:
    job = rules.new_job(
        job_id="0123456789abcdef0123456789abcdef",
        file_name="scan.dcm",
        content_type="application/dicom",
        size=10,
        upload_key=KEY,
        now=T0,
    )
    item = job_to_item(job, pending_ttl_s=3600)
    assert item["expiresAt"] == int(T0.timestamp()) + 3600
    assert item_to_job(item) == job
    claimed = rules.claim(job, now=T0, lease_until=T0)
    assert "expiresAt" not in job_to_item(claimed, pending_ttl_s=3600)


def test_reads_are_strongly_consistent_and_throttling_is_a_transient_error() -> None:
    client = make_client("dynamodb", region="eu-west-1", session=session())
    store = DynamoJobStore(client, table_name="ImageAnalysisResults")
    with Stubber(client) as stubber:
        stubber.add_response(
            "get_item",
            {},
            {"TableName": "ImageAnalysisResults", "Key": ANY, "ConsistentRead": True},
        )
        assert store.get("f" * 32) is None
        stubber.add_client_error(
            "get_item", service_error_code="ProvisionedThroughputExceededException"
        )
        with pytest.raises(DicomlensError) as caught:
            store.get("f" * 32)
    assert caught.value.code is ErrorCode.SERVICE_UNAVAILABLE
