"""moto-backed AWS for tests: in-process (``mock_aws``) or over real HTTP (ThreadedMotoServer).

moto does not check presigned signatures, expiry or POST policy conditions. So that the
contract tests still prove what real S3 would refuse, :func:`s3_post_allowed` checks a form
post against the signed policy document the adapter produced (expiry, exact key, content type,
content-length-range) the way S3 does before storing, and :func:`presigned_get_expired` reads
``X-Amz-Date`` + ``X-Amz-Expires`` from a presigned GET. "Now" is the real time shifted by
how far the test's clock was advanced, since botocore signs with the real time.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import requests

REGION = "eu-west-1"  # not us-east-1: URLs must carry the bucket's region
BUCKET = "dicomlens-test-uploads"
TABLE = "ImageAnalysisResults"


@dataclass(kw_only=True)
class MotoAws:
    """Clients on moto and, over HTTP, the server's endpoint."""

    s3: Any
    dynamodb: Any
    endpoint_url: str | None


FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
"""moto's dummy credentials and region, with Powertools' tracing and metrics off."""


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        region_name=REGION,
    )


def clients_at(endpoint_url: str | None) -> MotoAws:
    """S3 and DynamoDB clients at moto (in process when ``endpoint_url`` is None)."""
    from dicomlens.adapters.aws.clients import make_client

    session = _session()
    return MotoAws(
        s3=make_client("s3", region=REGION, endpoint_url=endpoint_url, session=session),
        dynamodb=make_client("dynamodb", region=REGION, endpoint_url=endpoint_url, session=session),
        endpoint_url=endpoint_url,
    )


def create_resources(aws: MotoAws) -> None:
    """The bucket and the table as the template declares them (key, sparse open-jobs index,
    TTL)."""
    aws.s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    aws.dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "jobId", "AttributeType": "S"},
            {"AttributeName": "openStatus", "AttributeType": "S"},
            {"AttributeName": "openSince", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "open-jobs",
                "KeySchema": [
                    {"AttributeName": "openStatus", "KeyType": "HASH"},
                    {"AttributeName": "openSince", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    aws.dynamodb.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )


_WRITE_LOCK = threading.RLock()


@contextmanager
def atomic_moto_writes() -> Iterator[None]:
    """Serialise moto's DynamoDB item operations, as DynamoDB serialises writes to an item.

    moto evaluates a ConditionExpression and applies the write without a lock, so two
    threads can both pass the same condition; real DynamoDB never lets them. Without this
    the concurrency contract would test moto, not the adapter.
    """
    with _serialised_backend("put_item", "update_item", "delete_item", "get_item"):
        yield


@contextmanager
def _serialised_backend(*names: str) -> Iterator[None]:
    """moto's DynamoDB backend methods ``names`` run one at a time (under _WRITE_LOCK)."""
    from moto.dynamodb.models import DynamoDBBackend

    originals = {name: getattr(DynamoDBBackend, name) for name in names}

    def locked(method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            with _WRITE_LOCK:
                return method(*args, **kwargs)

        return call

    for name, method in originals.items():
        setattr(DynamoDBBackend, name, locked(method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(DynamoDBBackend, name, method)


@contextmanager
def moto_in_process() -> Iterator[MotoAws]:
    """moto patched into botocore and requests for the duration of the context."""
    from moto import mock_aws

    from dicomlens.adapters.aws import clients

    # The adapters' clients come from one botocore session per process; moto's handler joins
    # only sessions created after moto was imported, so start a fresh one (as a new Lambda
    # process would), and again afterwards for the next test.
    clients._process_session.cache_clear()
    with mock_aws(), atomic_moto_writes():
        aws = clients_at(None)
        create_resources(aws)
        try:
            yield aws
        finally:
            clients._process_session.cache_clear()


@contextmanager
def moto_server() -> Iterator[MotoAws]:
    """A real moto HTTP server on a free loopback port, with fresh state."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        with atomic_moto_writes():
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            requests.post(f"{endpoint}/moto-api/reset", timeout=30)  # state is per process
            aws = clients_at(endpoint)
            create_resources(aws)
            yield aws
    finally:
        server.stop()


def policy_of(fields: dict[str, str]) -> dict[str, Any]:
    """The decoded POST policy document of a presigned POST's fields."""
    loaded: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    return loaded


def _condition_holds(condition: Any, fields: dict[str, str], size: int) -> bool:
    if isinstance(condition, dict):
        return all(
            name == "bucket" or fields.get(name) == value for name, value in condition.items()
        )
    operator, first, second = condition
    if operator == "content-length-range":
        return int(first) <= size <= int(second)
    value = fields.get(str(first).lstrip("$"), "")
    if operator == "eq":
        return bool(value == second)
    if operator == "starts-with":
        return value.startswith(second)
    return False


def s3_post_allowed(fields: dict[str, str], data: bytes, *, now: datetime) -> bool:
    """Whether S3 would accept this form post (policy expiry and every condition)."""
    policy = policy_of(fields)
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    return now < expiration and all(
        _condition_holds(condition, fields, len(data)) for condition in policy["conditions"]
    )


def presigned_get_expired(url: str, *, now: datetime) -> bool:
    """Whether a SigV4 presigned GET is past ``X-Amz-Date + X-Amz-Expires``."""
    query = parse_qs(urlsplit(url).query)
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return now > signed_at + timedelta(seconds=int(query["X-Amz-Expires"][0]))


class ShiftedNow:
    """Real time shifted by how far a test clock moved since this object was made."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._start = clock.now()

    def now(self) -> datetime:
        return datetime.now(UTC) + (self._clock.now() - self._start)


INDEX_TABLE = "dicomlens-test-InstanceIndex"
TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "template.yaml"


def create_index_table(dynamodb: Any, name: str) -> None:
    """The table exactly as the template's InstanceIndexTable declares its keys and GSIs."""
    from dicomlens.local.routes import load_template

    table = load_template(TEMPLATE)["Resources"]["InstanceIndexTable"]["Properties"]
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        GlobalSecondaryIndexes=table["GlobalSecondaryIndexes"],
        BillingMode=table["BillingMode"],
    )


@contextmanager
def serialised_moto_transactions() -> Iterator[None]:
    """Let moto apply one transaction (or query) at a time, as DynamoDB isolates them:
    moto's own transactions mutate the table unlocked, and two threads corrupt its dicts
    (atomic_moto_writes does the same for the single-item operations)."""
    with _serialised_backend("transact_write_items", "query", "batch_get_item"):
        yield
