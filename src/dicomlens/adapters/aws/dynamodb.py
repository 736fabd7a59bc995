"""The DynamoDB :class:`~dicomlens.ports.JobStore`: one item per job in
``ImageAnalysisResults`` (partition key ``jobId``).

Every state change is a conditional write: ``create`` needs the id to be new; ``claim`` reads
the job (strongly consistent), applies the pure transition and writes it only if status and
attempt count are still the ones it read (optimistic concurrency, so two Lambda invocations
for a repeated S3 event cannot both claim); ``finish`` needs PROCESSING under the same attempt.
Numbers come back from DynamoDB as ``Decimal`` and go in as ``Decimal`` (floats are refused).
A PENDING (or EXPIRED) job carries ``expiresAt`` (epoch seconds), the table's TTL attribute, so
an upload ticket that is never used disappears; the attribute is dropped once the upload
arrives. ``expire`` needs PENDING; ``release`` (a crashed attempt) PROCESSING under the same
attempt.

The sweeper's access pattern, "open jobs of one status that have been open since before T",
is the sparse global secondary index ``open-jobs``: partition key ``openStatus`` (PENDING or
PROCESSING), sort key ``openSince`` (epoch seconds of ``jobs.open_since``: the upload form's
expiry, or the end of the lease). Both attributes exist only while a job is open, so a
finished job leaves the index and a query reads only candidates, never the whole table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from dicomlens.adapters.aws.clients import AWS_ERRORS, error_code, translate
from dicomlens.domain import jobs
from dicomlens.domain.errors import DicomlensError, ErrorCode, IllegalTransitionError
from dicomlens.domain.job_records import job_from_record, job_to_record
from dicomlens.domain.jobs import Job, JobStatus

TTL_ATTRIBUTE = "expiresAt"
OPEN_JOBS_INDEX = "open-jobs"
OPEN_STATUS_ATTRIBUTE = "openStatus"
OPEN_SINCE_ATTRIBUTE = "openSince"
_OPTIONAL_ATTRIBUTES = frozenset(
    {
        OPEN_STATUS_ATTRIBUTE,
        OPEN_SINCE_ATTRIBUTE,
        "startedAt",
        "finishedAt",
        "leaseUntil",
        "uploadExpiresAt",
        "error",
        "result",
        TTL_ATTRIBUTE,
    }
)
_CONDITION_FAILED = "ConditionalCheckFailedException"
# An upload ticket that was never used (still PENDING, or EXPIRED) disappears after the TTL.
_TTL_STATUSES = frozenset({JobStatus.PENDING, JobStatus.EXPIRED})


def to_dynamo_value(value: Any) -> Any:
    """A JSON-like value with every float as an exact ``Decimal`` (DynamoDB refuses floats).

    Going through the float's shortest repr keeps 0.1 as Decimal('0.1'), not the binary
    expansion.
    """
    return json.loads(json.dumps(value), parse_float=Decimal)


def from_dynamo_value(value: Any) -> Any:
    """The inverse of :func:`to_dynamo_value`: integral Decimals to int, the rest to float."""
    if isinstance(value, Decimal):
        return (
            int(value)
            if value == value.to_integral_value() and "." not in str(value)
            else float(value)
        )
    if isinstance(value, dict):
        return {key: from_dynamo_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_dynamo_value(item) for item in value]
    return value


def job_to_item(job: Job, *, pending_ttl_s: int) -> dict[str, Any]:
    """The item stored for ``job`` (plain Python values; see :func:`serialize`): the shared
    job record without its absent values, plus the TTL of a PENDING upload ticket."""
    record = job_to_record(job)
    record["result"] = None if job.result is None else to_dynamo_value(job.result)
    item = {name: value for name, value in record.items() if value is not None}
    if job.status in _TTL_STATUSES:
        item[TTL_ATTRIBUTE] = int((job.created_at + timedelta(seconds=pending_ttl_s)).timestamp())
    since = jobs.open_since(job)
    if since is not None:  # the sparse open-jobs index holds open jobs only
        item[OPEN_STATUS_ATTRIBUTE] = str(job.status)
        item[OPEN_SINCE_ATTRIBUTE] = int(since.timestamp())
    return item


def item_to_job(item: dict[str, Any]) -> Job:
    """The job stored as ``item`` (plain Python values, as boto3's deserializer gives them)."""
    result = item.get("result")
    return job_from_record(
        {**item, "result": None if result is None else from_dynamo_value(result)}
    )


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """Plain values to DynamoDB's typed wire form."""
    return {name: attribute_value(value) for name, value in item.items()}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed wire form to plain values (numbers as Decimal)."""
    return {name: plain_value(value) for name, value in item.items()}


# The attribute-value codec is written here for the values a job item holds (JSON-like:
# str, int, Decimal, bool, None, dicts and lists; bytes too): boto3's own lives in a package
# whose import (boto3 and its resource and documentation machinery) a cold start would pay
# for nothing else, since the clients come from botocore.


def attribute_value(value: Any) -> dict[str, Any]:
    """``value`` as a DynamoDB AttributeValue (``{"S": ...}``, ``{"N": ...}`` ...).

    TypeError for a float (DynamoDB numbers are exact: pass a Decimal, see
    :func:`to_dynamo_value`), a non-finite Decimal, or a type DynamoDB has no form for.
    """
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):  # before int: bool is an int
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"DynamoDB numbers are finite, not {value}")
        return {"N": str(value)}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, dict):
        return {"M": {str(key): attribute_value(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [attribute_value(item) for item in value]}
    raise TypeError(f"no DynamoDB form for {type(value).__name__}")


def plain_value(attribute: dict[str, Any]) -> Any:
    """The plain value of a DynamoDB AttributeValue (numbers as Decimal, sets as sets)."""
    ((kind, value),) = attribute.items()
    match kind:
        case "S" | "B" | "BOOL":
            return value
        case "NULL":
            return None
        case "N":
            return Decimal(value)
        case "M":
            return {key: plain_value(item) for key, item in value.items()}
        case "L":
            return [plain_value(item) for item in value]
        case "SS" | "BS":
            return set(value)
        case "NS":
            return {Decimal(item) for item in value}
    raise TypeError(f"unknown DynamoDB attribute type {kind}")


class DynamoJobStore:
    """Jobs in one DynamoDB table, every write conditional."""

    def __init__(self, client: Any, *, table_name: str, pending_ttl_s: int = 7 * 24 * 3600):
        self._db = client
        self.table_name = table_name
        self._pending_ttl_s = pending_ttl_s

    def create(self, job: Job) -> None:
        """Insert a new job; ``CONFLICT`` if the id exists."""
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=serialize(job_to_item(job, pending_ttl_s=self._pending_ttl_s)),
                ConditionExpression="attribute_not_exists(jobId)",
            )
        except AWS_ERRORS as exc:
            if isinstance(exc, ClientError) and error_code(exc) == _CONDITION_FAILED:
                raise DicomlensError(ErrorCode.CONFLICT, "a job with this id exists") from exc
            raise translate(exc, action="create job") from exc

    def get(self, job_id: str) -> Job | None:
        """The job with ``job_id`` (strongly consistent read), or None."""
        try:
            response = self._db.get_item(
                TableName=self.table_name, Key={"jobId": {"S": job_id}}, ConsistentRead=True
            )
        except AWS_ERRORS as exc:
            raise translate(exc, action="read job") from exc
        item = response.get("Item")
        return None if item is None else item_to_job(deserialize(item))

    def claim(self, job_id: str, *, now: datetime, lease_s: float) -> Job | None:
        """PENDING (or PROCESSING with an expired lease) -> PROCESSING, atomically."""
        current = self.get(job_id)
        if current is None:
            return None
        try:
            claimed = jobs.claim(current, now=now, lease_until=now + timedelta(seconds=lease_s))
        except IllegalTransitionError:
            return None
        if self._put_if(claimed, status=current.status, attempts=current.attempts):
            return claimed
        return None  # another worker claimed it between our read and write

    def finish(self, job: Job) -> bool:
        """Store a finished ``job`` if it is still PROCESSING under the same attempt."""
        if job.status not in jobs.TERMINAL:
            raise IllegalTransitionError(f"job {job.job_id}: finish needs a finished job")
        return self._put_if(job, status=JobStatus.PROCESSING, attempts=job.attempts)

    def release(self, job: Job) -> bool:
        """Store a released PROCESSING ``job`` if it is still PROCESSING under its attempt."""
        if job.status is not JobStatus.PROCESSING:
            raise IllegalTransitionError(f"job {job.job_id}: release needs a PROCESSING job")
        return self._put_if(job, status=JobStatus.PROCESSING, attempts=job.attempts)

    def expire(self, job: Job) -> bool:
        """Store an EXPIRED ``job`` if it is still PENDING."""
        if job.status is not JobStatus.EXPIRED:
            raise IllegalTransitionError(f"job {job.job_id}: expire needs an EXPIRED job")
        return self._put_if(job, status=JobStatus.PENDING, attempts=None)

    def open_job_ids(self, status: JobStatus, *, open_before: datetime) -> Iterator[str]:
        """The ids of ``status`` jobs open since before ``open_before`` (a Query on the sparse
        ``open-jobs`` index, oldest first, page by page; never a Scan). The index is
        eventually consistent: callers read each job again before acting on it."""
        paginator = self._db.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            IndexName=OPEN_JOBS_INDEX,
            KeyConditionExpression="#status = :status AND #since <= :before",
            ExpressionAttributeNames={
                "#status": OPEN_STATUS_ATTRIBUTE,
                "#since": OPEN_SINCE_ATTRIBUTE,
            },
            ExpressionAttributeValues={
                ":status": {"S": str(status)},
                ":before": {"N": str(int(open_before.timestamp()))},
            },
        )
        try:
            for page in pages:
                for item in page.get("Items", []):
                    yield str(item["jobId"]["S"])
        except AWS_ERRORS as exc:
            raise translate(exc, action="query open jobs") from exc

    def index_open_jobs(self) -> int:
        """Put open jobs stored without ``openStatus`` (written before the ``open-jobs`` index
        existed) into the index; how many were. A Scan, once after an upgrade: the sweeper
        never scans, so until then such jobs are invisible to it.

        Each job is rewritten only if its status and attempt are still those read, so a
        processor that moves it meanwhile wins; the rewrite is the job's own item, which now
        carries ``openStatus`` and ``openSince``.
        """
        paginator = self._db.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.table_name,
            ConsistentRead=True,
            FilterExpression="attribute_not_exists(#open) AND #status IN (:pending, :processing)",
            ExpressionAttributeNames={"#open": OPEN_STATUS_ATTRIBUTE, "#status": "status"},
            ExpressionAttributeValues={
                ":pending": {"S": str(JobStatus.PENDING)},
                ":processing": {"S": str(JobStatus.PROCESSING)},
            },
        )
        indexed = 0
        try:
            for page in pages:
                for item in page.get("Items", []):
                    job = item_to_job(deserialize(item))
                    if jobs.open_since(job) is None:
                        continue
                    if self._put_if(job, status=job.status, attempts=job.attempts):
                        indexed += 1
        except AWS_ERRORS as exc:
            raise translate(exc, action="scan for unindexed open jobs") from exc
        return indexed

    def _put_if(self, job: Job, *, status: JobStatus, attempts: int | None) -> bool:
        """Overwrite the job's attributes with ``job``'s if status (and attempt) still match.

        An UpdateItem, not a PutItem: it can never create an item, and the processor's role
        needs only GetItem and UpdateItem. Attributes the new job lacks are removed.
        """
        item = job_to_item(job, pending_ttl_s=self._pending_ttl_s)
        del item["jobId"]
        names: dict[str, str] = {"#status": "status"}
        values: dict[str, Any] = {":expected_status": {"S": str(status)}}
        sets = []
        for index, (name, value) in enumerate(sorted(item.items())):
            names[f"#a{index}"] = name
            values[f":v{index}"] = attribute_value(value)
            sets.append(f"#a{index} = :v{index}")
        removes = []
        for index, name in enumerate(sorted(_OPTIONAL_ATTRIBUTES - item.keys())):
            names[f"#r{index}"] = name
            removes.append(f"#r{index}")
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        condition = "attribute_exists(jobId) AND #status = :expected_status"
        if attempts is not None:
            names["#attempts"] = "attempts"
            values[":expected_attempts"] = {"N": str(attempts)}
            condition += " AND #attempts = :expected_attempts"
        try:
            self._db.update_item(
                TableName=self.table_name,
                Key={"jobId": {"S": job.job_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except AWS_ERRORS as exc:
            if isinstance(exc, ClientError) and error_code(exc) == _CONDITION_FAILED:
                return False
            raise translate(exc, action="update job") from exc
        return True
