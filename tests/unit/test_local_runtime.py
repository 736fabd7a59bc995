"""The local runtime's pieces: routes from the template, API Gateway events, the S3-like
upload endpoint (policy checks while streaming), signed downloads, the durable queue."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dicomlens.adapters.local.files import LocalBlobStore
from dicomlens.adapters.local.signing import Signer
from dicomlens.local import routes as route_table
from dicomlens.local.apigw import http_api_event, http_reply
from dicomlens.local.app import build_app
from dicomlens.local.event_queue import EventQueue
from dicomlens.ports import PresignedPost
from fakes import FakeClock, load_event

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

KEY = "uploads/0123456789abcdef0123456789abcdef/scan.dcm"


def test_the_route_table_comes_from_the_template() -> None:
    template = route_table.load_template(route_table.default_template_path())
    routes = {r.route_key: r.handler for r in route_table.http_routes(template)}
    assert routes["POST /uploads"] == "dicomlens.handlers.create_upload.handler"
    assert routes["GET /jobs/{jobId}"] == "dicomlens.handlers.get_results.handler"
    assert routes["GET /openapi.json"] == "dicomlens.handlers.get_results.handler"
    for handler in routes.values():
        assert callable(route_table.import_handler(handler))


def test_short_form_intrinsics_are_read(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        "Resources:\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Handler: pkg.mod.handler\n"
        "      Role: !GetAtt Role.Arn\n"
        "      Environment: {Variables: {B: !Sub '${AWS::StackName}-b', T: !Ref Table}}\n"
        "      Events:\n"
        "        Any: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: '/f/{proxy+}'}}\n"
        "        Q: {Type: SQS, Properties: {Queue: !GetAtt [Q, Arn]}}\n"
    )
    (route,) = route_table.http_routes(route_table.load_template(template))
    assert (route.method, route.path, route.handler) == ("ANY", "/f/{proxy+}", "pkg.mod.handler")
    assert route.starlette_path() == "/f/{proxy:path}"


def test_events_have_the_shape_api_gateway_sends() -> None:
    event = http_api_event(
        method="GET",
        raw_path="/jobs/abc",
        raw_query="a=1&a=2&b=",
        headers=[("Accept", "x"), ("X-Multi", "1"), ("x-multi", "2"), ("Cookie", "c=1; d=2")],
        body=b"",
        route_key="GET /jobs/{jobId}",
        path_parameters={"jobId": "abc"},
        source_ip="127.0.0.1",
        domain_name="localhost:8080",
    )
    reference = load_event("sam_http_api_proxy")
    assert set(event) <= set(reference)
    assert set(event["requestContext"]) <= set(reference["requestContext"])
    assert event["headers"] == {"accept": "x", "x-multi": "1,2"}
    assert event["cookies"] == ["c=1", "d=2"]
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["pathParameters"] == {"jobId": "abc"}


def test_events_carry_the_forwarded_scheme_and_port_as_api_gateway_sets_them() -> None:
    event = http_api_event(
        method="GET",
        raw_path="/dicomweb/studies",
        raw_query="",
        headers=[("Host", "127.0.0.1"), ("X-Forwarded-Proto", "https")],
        body=b"",
        route_key="ANY /dicomweb/{proxy+}",
        path_parameters={},
        source_ip="127.0.0.1",
        domain_name="127.0.0.1",
        forwarded=("http", 8080),
    )
    # the client's own x-forwarded-proto is replaced, as API Gateway replaces it
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["headers"]["x-forwarded-port"] == "8080"


def test_binary_bodies_are_base64_and_replies_are_decoded() -> None:
    event = http_api_event(
        method="POST",
        raw_path="/x",
        raw_query="",
        headers=[("content-type", "application/octet-stream")],
        body=b"\x00\xff",
        route_key="POST /x",
        path_parameters={},
        source_ip="127.0.0.1",
        domain_name="h",
    )
    assert event["isBase64Encoded"] is True
    assert event["body"] == "AP8="
    reply = http_reply({"statusCode": 201, "headers": {"X-A": "b"}, "body": "{}"})
    assert (reply.status, reply.headers, reply.body) == (201, [("x-a", "b")], b"{}")


@dataclass
class Local:
    client: TestClient
    store: LocalBlobStore
    queue: EventQueue
    clock: FakeClock

    def form(
        self, *, max_bytes: int = 100, content_type: str = "application/dicom"
    ) -> PresignedPost:
        return self.store.presign_post(
            key=KEY, content_type=content_type, max_bytes=max_bytes, expires_in_s=60
        )

    def post(self, fields: dict[str, str], data: bytes) -> Any:
        return self.client.post(
            "/_upload", data=fields, files={"file": ("x.dcm", data, "application/dicom")}
        )

    def stored(self) -> list[Path]:
        return [p for p in self.store.root.rglob("*") if p.is_file()]


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    clock = FakeClock()
    store = LocalBlobStore(
        tmp_path / "blobs", signer=Signer(b"s" * 32), base_url="http://testserver", clock=clock
    )
    queue = EventQueue(tmp_path / "q.sqlite3")
    app = build_app(
        routes=[],
        blobs=store,
        queue=queue,
        clock=clock,
        max_upload_bytes=1000,
        notify=lambda: None,
        api_base_url="http://testserver",
        cors_origin="http://site.example",
        web_dir=None,
    )
    with TestClient(app) as client:
        yield Local(client=client, store=store, queue=queue, clock=clock)


def test_a_valid_upload_is_stored_and_queued_as_an_s3_event(local: Local) -> None:
    response = local.post(local.form().fields, b"x" * 100)
    assert response.status_code == 204
    assert (local.store.root / KEY).read_bytes() == b"x" * 100
    delivery = local.queue.lease(lease_s=10)
    assert delivery is not None
    (record,) = delivery.body["Records"]
    assert record["eventName"] == "ObjectCreated:Post"
    assert record["s3"]["object"]["key"] == KEY
    assert record["s3"]["object"]["size"] == 100


def tampered_policy(fields: dict[str, str]) -> dict[str, str]:
    import base64

    document = json.loads(base64.b64decode(fields["policy"]))
    document["conditions"][2][2] = 10**9
    return {**fields, "policy": base64.b64encode(json.dumps(document).encode()).decode()}


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda f: {**f, "key": "uploads/fedcba9876543210fedcba9876543210/scan.dcm"}, 403),
        (lambda f: {**f, "key": "uploads/../../etc/passwd"}, 403),
        (lambda f: {**f, "Content-Type": "text/html"}, 403),
        (lambda f: {**f, "x-dicomlens-signature": "0" * 64}, 403),
        (tampered_policy, 403),
        (lambda f: {k: v for k, v in f.items() if k != "policy"}, 403),
    ],
)
def test_forged_forms_are_refused_and_store_nothing(local: Local, change: Any, status: int) -> None:
    response = local.post(change(local.form().fields), b"x" * 10)
    assert response.status_code == status
    assert response.json()["error"]["code"]
    assert local.stored() == []
    assert len(local.queue) == 0


def test_an_oversize_file_is_refused_while_streaming(local: Local) -> None:
    response = local.post(local.form(max_bytes=10).fields, b"x" * 11)
    assert response.status_code == 413
    assert local.stored() == []


def test_an_expired_form_is_refused(local: Local) -> None:
    fields = local.form().fields
    local.clock.advance(61)
    assert local.post(fields, b"x").status_code == 403
    assert local.stored() == []


def test_a_second_upload_to_the_same_key_never_replaces_the_original(local: Local) -> None:
    fields = local.form().fields
    assert local.post(fields, b"first").status_code == 204
    assert local.post(fields, b"second").status_code == 409
    assert (local.store.root / KEY).read_bytes() == b"first"


def test_a_form_without_a_file_or_not_multipart_is_refused(local: Local) -> None:
    assert local.client.post("/_upload", data=local.form().fields).status_code == 400
    assert local.client.post("/_upload", content=b"{}").status_code == 400
    assert local.stored() == []


def test_signed_downloads_work_until_they_expire_and_not_when_altered(local: Local) -> None:
    local.store.put_bytes("derived/j/preview.png", b"png", content_type="image/png")
    url = local.store.presign_get("derived/j/preview.png", expires_in_s=30)
    parts = urlsplit(url)
    ok = local.client.get(f"{parts.path}?{parts.query}")
    assert ok.status_code == 200
    assert ok.headers["content-type"] == "image/png"
    other = parts.path.replace("preview", "thumbnail")
    assert local.client.get(f"{other}?{parts.query}").status_code == 403
    local.clock.advance(31)
    assert local.client.get(f"{parts.path}?{parts.query}").status_code == 403


def test_cors_allows_only_the_site_origin(local: Local) -> None:
    allowed = local.client.options(
        "/_upload",
        headers={"Origin": "http://site.example", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.headers["access-control-allow-origin"] == "http://site.example"
    denied = local.client.options(
        "/_upload",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in denied.headers


def test_the_queue_redelivers_unacknowledged_events(tmp_path: Path) -> None:
    queue = EventQueue(tmp_path / "q.sqlite3")
    assert queue.put("k", {"n": 1}, now=100.0)
    assert not queue.put("k", {"n": 2}, now=100.0), "one event per key"
    first = queue.lease(lease_s=10, now=100.0)
    assert first is not None
    assert queue.lease(lease_s=10, now=105.0) is None
    again = queue.lease(lease_s=10, now=111.0)
    assert again is not None
    assert again.deliveries == 2
    queue.retry_at(again.event_id, 200.0)
    assert queue.lease(lease_s=10, now=150.0) is None
    assert queue.release_all() == 0
    last = queue.lease(lease_s=10, now=200.0)
    assert last is not None
    queue.ack(last.event_id)
    assert len(queue) == 0


def test_start_up_recovery_requeues_every_unfinished_uploaded_job(tmp_path: Path) -> None:
    from datetime import timedelta

    from dicomlens import bootstrap
    from dicomlens.adapters.local.sqlite_jobs import SqliteJobStore
    from dicomlens.config import Settings
    from dicomlens.domain import jobs as rules
    from dicomlens.local.runtime import recover

    clock = FakeClock()
    store = LocalBlobStore(
        tmp_path / "blobs", signer=Signer(b"s" * 32), base_url="http://x", clock=clock
    )
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite3")
    queue = EventQueue(tmp_path / "q.sqlite3")
    bootstrap.use_services(
        bootstrap.build_services(Settings(analyzers=()), blobs=store, jobs=jobs, clock=clock)
    )
    try:
        ids = [f"{n:032x}" for n in range(1, 5)]
        for job_id in ids:
            jobs.create(
                rules.new_job(
                    job_id=job_id,
                    file_name="a.dcm",
                    content_type="application/dicom",
                    size=3,
                    upload_key=f"uploads/{job_id}/a.dcm",
                    now=clock.now(),
                )
            )
        for job_id in ids[:3]:  # the fourth upload never arrived
            store.put_bytes(f"uploads/{job_id}/a.dcm", b"abc", content_type="x")
        crashed = jobs.claim(ids[1], now=clock.now(), lease_s=3600)  # a worker died mid-job
        assert crashed is not None
        finished = jobs.claim(ids[2], now=clock.now(), lease_s=60)
        assert finished is not None
        assert jobs.finish(rules.complete(finished, result={}, derived_keys={}, now=clock.now()))
        queue.put(f"uploads/{ids[0]}/a.dcm", {"Records": []})
        assert queue.lease(lease_s=3600) is not None  # leased by the dead process

        report = recover(jobs=jobs, blobs=store, queue=queue)
    finally:
        bootstrap.use_services(None)
    assert (report.released_events, report.expired_leases, report.requeued_jobs) == (1, 1, 1)
    assert queue.queued_keys() == {f"uploads/{ids[0]}/a.dcm", f"uploads/{ids[1]}/a.dcm"}
    assert jobs.claim(ids[1], now=clock.now() + timedelta(seconds=1), lease_s=60) is not None


def test_an_upload_the_full_disk_cannot_hold_is_refused_503_and_leaves_nothing(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import tempfile

    real_mkstemp = tempfile.mkstemp

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    # Given a disk that has no room for the upload's file
    monkeypatch.setattr(tempfile, "mkstemp", full)
    response = local.post(local.form().fields, b"x" * 100)
    # Then the client is told to retry later, with the stable code, and nothing is stored
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "storage is full" in response.json()["error"]["message"]
    assert local.stored() == []
    assert len(local.queue) == 0
    # And once there is room, the same form is accepted
    monkeypatch.setattr(tempfile, "mkstemp", real_mkstemp)
    assert local.post(local.form().fields, b"x" * 100).status_code == 204


def test_an_upload_whose_event_cannot_be_queued_is_not_kept(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dicomlens.domain.errors import TransientError

    real_put = local.queue.put

    def full(*args: Any, **kwargs: Any) -> bool:
        raise TransientError("the server's storage is full; try again later")

    # Given a queue that cannot take the upload's event (its database's disk is full)
    monkeypatch.setattr(local.queue, "put", full)
    response = local.post(local.form().fields, b"x" * 100)
    # Then the upload is refused 503 and its file is not kept: a published file with no
    # event would wait for a restart, and the form could not be posted again (409)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert local.stored() == []
    # And the client's retry is accepted and queued
    monkeypatch.setattr(local.queue, "put", real_put)
    assert local.post(local.form().fields, b"x" * 100).status_code == 204
    assert (local.store.root / KEY).read_bytes() == b"x" * 100
    assert len(local.queue) == 1
