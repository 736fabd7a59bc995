"""Adapters under contract: each port's suite (fixtures in conftest.py) runs once per entry
of the registries below.

To add an adapter (e.g. the moto-backed AWS ones), write a factory that returns the harness
and add it to the registry::

    def moto_blobs(tmp_path: Path, clock: FakeClock) -> BlobHarness: ...
    BLOB_STORES["moto"] = moto_blobs

    def moto_jobs(tmp_path: Path) -> JobStore: ...
    JOB_STORES["moto"] = moto_jobs

A harness gives the suite what the port does not: a way to post an upload form the way a
browser does (``upload``) and to follow a signed GET URL (``fetch``). Factories may be
generators (yield the harness, then clean up).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dicomlens.adapters.local.files import LocalBlobStore
from dicomlens.adapters.local.signing import Signer
from dicomlens.adapters.local.sqlite_jobs import SqliteJobStore
from dicomlens.local.app import build_app
from dicomlens.local.event_queue import EventQueue
from dicomlens.ports import BlobStore, JobStore, PresignedPost
from fakes import FakeClock, InMemoryBlobStore, InMemoryJobStore

with warnings.catch_warnings():  # starlette suggests another client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@dataclass(kw_only=True)
class BlobHarness:
    """A blob store plus the browser's side of it."""

    store: BlobStore
    clock: FakeClock
    upload: Callable[[PresignedPost, bytes], int]  # -> HTTP status (2xx = stored)
    fetch: Callable[[str], bytes | None]  # signed URL -> bytes, None if refused


def fake_blobs(tmp_path: Path, clock: FakeClock) -> BlobHarness:
    del tmp_path
    store = InMemoryBlobStore(clock)

    def upload(post: PresignedPost, data: bytes) -> int:
        if post.expires_at <= clock.now() or len(data) > int(post.fields["max-bytes"]):
            return 403
        store.receive_upload(post.fields["key"], data)
        return 204

    def fetch(url: str) -> bytes | None:
        parts = urlsplit(url)
        if int(parse_qs(parts.query)["expires"][0]) < clock.now().timestamp():
            return None
        return store.objects.get(unquote(parts.netloc + parts.path))

    return BlobHarness(store=store, clock=clock, upload=upload, fetch=fetch)


def local_blobs(tmp_path: Path, clock: FakeClock) -> Iterator[BlobHarness]:
    store = LocalBlobStore(
        tmp_path / "blobs", signer=Signer(b"k" * 32), base_url="http://testserver", clock=clock
    )
    queue = EventQueue(tmp_path / "queue.sqlite3")
    app = build_app(
        routes=[],
        blobs=store,
        queue=queue,
        clock=clock,
        max_upload_bytes=1 << 20,
        notify=lambda: None,
        api_base_url="http://testserver",
        cors_origin="http://testserver",
        web_dir=None,
    )
    with TestClient(app) as client:

        def upload(post: PresignedPost, data: bytes) -> int:
            response = client.post(
                urlsplit(post.url).path,
                data=post.fields,
                files={"file": ("f.bin", data, "application/octet-stream")},
            )
            return response.status_code

        def fetch(url: str) -> bytes | None:
            parts = urlsplit(url)
            response = client.get(f"{parts.path}?{parts.query}")
            return response.content if response.status_code == 200 else None

        yield BlobHarness(store=store, clock=clock, upload=upload, fetch=fetch)


def fake_jobs(tmp_path: Path) -> JobStore:
    del tmp_path
    return InMemoryJobStore()


def local_jobs(tmp_path: Path) -> JobStore:
    return SqliteJobStore(tmp_path / "jobs.sqlite3")


BLOB_STORES: dict[str, Callable[..., Any]] = {"fake": fake_blobs, "local": local_blobs}
JOB_STORES: dict[str, Callable[..., Any]] = {"fake": fake_jobs, "local": local_jobs}

# The AWS adapters on moto; aws_harness imports BlobHarness from this module.
from aws_harness import register as _register_aws  # noqa: E402

_register_aws(BLOB_STORES, JOB_STORES)
