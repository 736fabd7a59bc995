"""S3 ObjectCreated events as S3 sends them to Lambda (keys URL-encoded with ``+``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

LOCAL_BUCKET = "dicomlens-local"


def object_created_event(
    *, key: str, size: int, etag: str, source_ip: str = "127.0.0.1", sequencer: int = 0
) -> dict[str, Any]:
    """An ``ObjectCreated:Post`` event with one record for ``key``."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "local",
                "eventTime": now,
                "eventName": "ObjectCreated:Post",
                "userIdentity": {"principalId": "local"},
                "requestParameters": {"sourceIPAddress": source_ip},
                "responseElements": {
                    "x-amz-request-id": f"{sequencer:016X}",
                    "x-amz-id-2": "local",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "uploads",
                    "bucket": {
                        "name": LOCAL_BUCKET,
                        "ownerIdentity": {"principalId": "local"},
                        "arn": f"arn:aws:s3:::{LOCAL_BUCKET}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag,
                        "sequencer": f"{sequencer:016X}",
                    },
                },
            }
        ]
    }
