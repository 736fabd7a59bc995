"""The AWS adapters under contract, on moto in-process and over HTTP (ThreadedMotoServer).

Registered into contract_harness's registries as ``moto`` and ``moto-server``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import requests
from contract_harness import BlobHarness

from aws_support import (
    BUCKET,
    TABLE,
    MotoAws,
    ShiftedNow,
    moto_in_process,
    moto_server,
    presigned_get_expired,
    s3_post_allowed,
)
from dicomlens.adapters.aws.dynamodb import DynamoJobStore
from dicomlens.adapters.aws.s3 import S3BlobStore
from dicomlens.ports import JobStore, PresignedPost
from fakes import FakeClock


def _blobs(start: Callable[[], AbstractContextManager[MotoAws]]) -> Callable[..., Any]:
    def factory(tmp_path: Path, clock: FakeClock) -> Iterator[BlobHarness]:
        with start() as aws:
            store = S3BlobStore(aws.s3, bucket=BUCKET, clock=clock, temp_dir=tmp_path)
            shifted = ShiftedNow(clock)

            def upload(post: PresignedPost, data: bytes) -> int:
                # What real S3 refuses (moto does not check policies): a 403 and nothing stored.
                if not s3_post_allowed(post.fields, data, now=shifted.now()):
                    return 403
                response = requests.post(
                    post.url, data=post.fields, files={"file": ("f.bin", data)}, timeout=30
                )
                return response.status_code

            def fetch(url: str) -> bytes | None:
                if presigned_get_expired(url, now=shifted.now()):
                    return None
                response = requests.get(url, timeout=30)
                return response.content if response.status_code == 200 else None

            yield BlobHarness(store=store, clock=clock, upload=upload, fetch=fetch)

    return factory


def _jobs(start: Callable[[], AbstractContextManager[MotoAws]]) -> Callable[..., Any]:
    def factory(tmp_path: Path) -> Iterator[JobStore]:
        del tmp_path
        with start() as aws:
            yield DynamoJobStore(aws.dynamodb, table_name=TABLE)

    return factory


def register(blob_stores: dict[str, Any], job_stores: dict[str, Any]) -> None:
    """Add the moto-backed adapters to the contract registries."""
    blob_stores["moto"] = _blobs(moto_in_process)
    blob_stores["moto-server"] = _blobs(moto_server)
    job_stores["moto"] = _jobs(moto_in_process)
    job_stores["moto-server"] = _jobs(moto_server)
