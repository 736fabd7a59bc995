"""The local server given hostile requests: capped upload forms, no 500 for malformed
input, the Host check, the API token, and a 500 with the error shape for real bugs."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

from dicomlens.adapters.local.files import LocalBlobStore
from dicomlens.adapters.local.signing import Signer
from dicomlens.local import routes as route_table
from dicomlens.local.app import ascii_number, build_app
from dicomlens.local.event_queue import EventQueue
from dicomlens.local.guards import allowed_host_headers, is_loopback, where_raised
from dicomlens.local.upload_endpoint import FormLimits
from fakes import FakeClock

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

KEY = "uploads/0123456789abcdef0123456789abcdef/scan.dcm"
TOKEN = "t0ken-" + "x" * 26


def make_client(tmp_path: Path, **options: Any) -> tuple[TestClient, LocalBlobStore, EventQueue]:
    clock = FakeClock()
    store = LocalBlobStore(
        tmp_path / "blobs", signer=Signer(b"s" * 32), base_url="http://testserver", clock=clock
    )
    queue = EventQueue(tmp_path / "q.sqlite3")
    template = route_table.load_template(route_table.default_template_path())
    app = build_app(
        routes=options.pop("routes", route_table.http_routes(template)),
        blobs=store,
        queue=queue,
        clock=clock,
        max_upload_bytes=1000,
        notify=lambda: None,
        api_base_url="http://testserver",
        cors_origin="http://testserver",
        web_dir=None,
        **options,
    )
    return TestClient(app, raise_server_exceptions=False), store, queue


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, LocalBlobStore, EventQueue]]:
    made = make_client(tmp_path, form_limits=FormLimits(fields=5, field_bytes=2048))
    with made[0]:
        yield made


def fields_of(store: LocalBlobStore) -> dict[str, str]:
    return store.presign_post(
        key=KEY, content_type="application/dicom", max_bytes=100, expires_in_s=60
    ).fields


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def multipart(parts: list[tuple[str, bytes]], boundary: str = "b0undary") -> bytes:
    out = b""
    for name, value in parts:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        if name == "file":
            out += b'; filename="x.dcm"\r\nContent-Type: application/dicom'
        out += b"\r\n\r\n" + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


FORM = {"content-type": "multipart/form-data; boundary=b0undary"}


def test_too_many_fields_before_the_file_are_refused(client: Any) -> None:
    http, _, queue = client
    parts = [(f"x{n}", b"v") for n in range(6)] + [("file", b"data")]
    assert_error(
        http.post("/_upload", content=multipart(parts), headers=FORM), 400, "UPLOAD_REJECTED"
    )
    assert len(queue) == 0


def test_fields_larger_than_the_cap_are_refused_413(client: Any) -> None:
    http, _, queue = client
    parts = [("a", b"v" * 1500), ("b", b"v" * 1500), ("file", b"data")]
    assert_error(http.post("/_upload", content=multipart(parts), headers=FORM), 413, "TOO_LARGE")
    assert len(queue) == 0


def test_one_huge_chunked_field_is_refused_early(client: Any) -> None:
    http, _, _ = client
    app = http.app
    chunks = [b'--b0undary\r\nContent-Disposition: form-data; name="policy"\r\n\r\n']
    chunks += [b"p" * 1024] * 10_000
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:  # a chunked body: no Content-Length
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/_upload",
        "raw_path": b"/_upload",
        "query_string": b"",
        "headers": [(b"content-type", FORM["content-type"].encode()), (b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
        "scheme": "http",
        "http_version": "1.1",
    }
    anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 413
    assert read < 10, "the refusal came after the cap, not at the end of the body"


def test_huge_part_headers_count_towards_the_cap(client: Any) -> None:
    http, _, _ = client
    body = b"--b0undary\r\nX-Junk: " + b"h" * 4000 + b"\r\n\r\nv\r\n--b0undary--\r\n"
    assert_error(http.post("/_upload", content=body, headers=FORM), 413, "TOO_LARGE")


def test_a_valid_upload_still_passes_with_the_caps(client: Any) -> None:
    http, store, queue = client
    response = http.post(
        "/_upload", data=fields_of(store), files={"file": ("x.dcm", b"x" * 50, "application/dicom")}
    )
    assert response.status_code == 204
    assert len(queue) == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            b'--b0undary\r\nContent-Disposition: form-data; name="a"\r\n\r\nzz\r\n--b0undaryjunk',
            FORM["content-type"],
        ),
        (b"--b0undary\r\nBad\x00Header: x\r\n\r\nzz\r\n--b0undary--\r\n", FORM["content-type"]),
        (b"\x00\xff" * 500, FORM["content-type"]),
        (b"--b0undary\r\n\r\n\r\n--b0undary--\r\n", FORM["content-type"]),
        (b"--b0undary", FORM["content-type"]),
        (b"", FORM["content-type"]),
        (b"x", "multipart/form-data"),
        (b"x", "multipart/form-data; boundary="),
        (b"x", "text/plain"),
        (b"x", "application/octet-stream"),
        (b"x", "multipart/form-data; boundary=\xe9\xe9".encode("latin-1")),
    ],
)
def test_malformed_multipart_is_400(client: Any, body: bytes, content_type: str | bytes) -> None:
    http, store, queue = client
    response = http.post("/_upload", content=body, headers={"content-type": content_type})
    assert_error(response, 400, "UPLOAD_REJECTED")
    assert len(queue) == 0
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("signature", ["é" * 64, "\u0663" * 64, "", "0" * 1000])
def test_non_ascii_or_odd_signatures_are_403(client: Any, signature: str) -> None:
    http, store, _ = client
    fields = {**fields_of(store), "x-dicomlens-signature": signature}
    response = http.post(
        "/_upload", data=fields, files={"file": ("x.dcm", b"x", "application/dicom")}
    )
    assert_error(response, 403, "UPLOAD_REJECTED")


@pytest.mark.parametrize(
    "expires", ["%C2%B2", "%D9%A3" * 12, "1" * 5000, "-1", "1e9", "%00", "9" * 30]
)
def test_odd_download_expiries_are_403(client: Any, expires: str) -> None:
    http, store, _ = client
    store.put_bytes("derived/j/p.png", b"png", content_type="image/png")
    url = urlsplit(store.presign_get("derived/j/p.png", expires_in_s=30))
    assert http.get(f"{url.path}?{url.query}").status_code == 200
    forged = f"{url.path}?expires={expires}&sig=%C3%A9"
    assert_error(http.get(forged), 403, "UPLOAD_REJECTED")


def test_arabic_indic_digits_do_not_stand_for_the_signed_expiry(client: Any) -> None:
    http, store, _ = client
    store.put_bytes("derived/j/p.png", b"png", content_type="image/png")
    url = urlsplit(store.presign_get("derived/j/p.png", expires_in_s=30))
    query = dict(part.split("=", 1) for part in url.query.split("&"))
    arabic = "".join(chr(0x0660 + int(d)) for d in query["expires"])
    response = http.get(f"{url.path}?expires={arabic}&sig={query['sig']}")
    assert_error(response, 403, "UPLOAD_REJECTED")


def test_ascii_numbers_only() -> None:
    assert ascii_number("123") == 123
    assert ascii_number("²") is None
    assert ascii_number("\u0663") is None
    assert ascii_number("-1") is None
    assert ascii_number("9" * 5000) == int("9" * 18)


@pytest.mark.parametrize("length", ["²", "\u0663", "9" * 5000])
def test_odd_content_lengths_are_not_500(client: Any, length: str) -> None:
    http, _, _ = client
    # Given straight to the app: a real server's parser refuses most of these itself.
    raw = length.encode("utf-8")
    response = http.post("/uploads", content=b"{}", headers={"content-length": raw})
    assert response.status_code < 500


def test_api_bodies_over_the_limit_or_malformed_are_4xx(client: Any) -> None:
    http, _, _ = client
    assert_error(http.post("/uploads", content=b"[" * 2_000_000), 413, "TOO_LARGE")
    assert_error(
        http.post("/uploads", content=b"[" * 100_000, headers={"content-type": "application/json"}),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(
        http.post("/uploads", content=b"{}", headers={"content-type": "text/plain"}),
        415,
        "VALIDATION_ERROR",
    )


def test_unknown_routes_and_methods_use_the_error_shape(client: Any) -> None:
    http, _, _ = client
    assert_error(http.get("/no/such/route"), 404, "NOT_FOUND")
    assert_error(http.delete("/_upload"), 405, "VALIDATION_ERROR")


def test_a_bug_is_a_500_with_the_error_shape_and_a_one_line_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    http, store, _ = make_client(tmp_path, routes=[])

    def explode(key: str) -> Path:
        raise RuntimeError("/data/Jane Doe.dcm")

    store.path_of = explode  # type: ignore[method-assign]
    url = urlsplit(
        "http://testserver/_blobs/derived/j/p.png?expires=99999999999&sig="
        + store.signer.sign_download("derived/j/p.png", expires=99999999999, name="")
    )
    with caplog.at_level("ERROR"):
        response = http.get(f"{url.path}?{url.query}")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "INTERNAL", "message": "internal error"}}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError at" in logged
    assert "Jane" not in logged


def test_where_raised_names_the_type_and_line_only() -> None:
    try:
        int("Jane Doe")
    except ValueError as exc:
        text = where_raised(exc)
    assert text.startswith("ValueError at test_local_hostile_requests.py:")
    assert "Jane" not in text


# The Host check (DNS rebinding) and the API token.


def test_allowed_hosts_are_the_bound_names_with_the_port() -> None:
    allowed = allowed_host_headers(host="127.0.0.1", port=8080)
    assert allowed is not None
    assert {"localhost:8080", "127.0.0.1:8080", "[::1]:8080"} <= allowed
    assert "evil.example:8080" not in allowed
    assert "localhost:9090" not in allowed
    assert "127.0.0.1" in allowed  # dicomweb-client sends the name without the port
    assert allowed_host_headers(host="0.0.0.0", port=8080) is None  # noqa: S104 - token instead
    lan = allowed_host_headers(host="192.168.1.5", port=80, public_host="scan.example")
    assert lan is not None
    assert {"192.168.1.5", "192.168.1.5:80", "scan.example"} <= lan


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("localhost")
    assert is_loopback("::1")
    assert is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0")  # noqa: S104
    assert not is_loopback("192.168.1.5")
    assert not is_loopback("example.com")


def test_a_foreign_host_header_is_refused_on_every_path(tmp_path: Path) -> None:
    http, _, _ = make_client(
        tmp_path, allowed_hosts=allowed_host_headers(host="127.0.0.1", port=8080)
    )
    for path in ("/config.json", "/openapi.json", "/jobs/x", "/_upload"):
        assert_error(
            http.get(path, headers={"host": "rebind.evil.example:8080"}), 421, "HOST_NOT_ALLOWED"
        )
    assert http.get("/config.json", headers={"host": "127.0.0.1:8080"}).status_code == 200
    assert http.get("/config.json", headers={"host": "LOCALHOST:8080"}).status_code == 200


def test_the_token_guards_the_api_and_uploads_but_not_the_page_or_links(tmp_path: Path) -> None:
    http, store, _ = make_client(tmp_path, api_token=TOKEN)
    config = http.get("/config.json")
    assert config.json() == {"apiBaseUrl": "http://testserver", "apiTokenRequired": True}
    assert TOKEN not in config.text
    body = {"fileName": "a.dcm", "size": 3, "contentType": "application/dicom"}
    assert_error(http.post("/uploads", json=body), 401, "UNAUTHORIZED")
    wrong = {"authorization": ("Bearer " + "é" * 32).encode()}
    assert_error(http.post("/uploads", json=body, headers=wrong), 401, "UNAUTHORIZED")
    assert_error(http.get("/openapi.json"), 401, "UNAUTHORIZED")
    assert_error(http.post("/_upload", data=fields_of(store)), 401, "UNAUTHORIZED")
    good = {"authorization": f"Bearer {TOKEN}"}
    assert http.get("/openapi.json", headers=good).status_code == 200
    assert http.post("/_upload", data=fields_of(store), headers=good).status_code == 400  # no file
    store.put_bytes("derived/j/p.png", b"png", content_type="image/png")
    link = urlsplit(store.presign_get("derived/j/p.png", expires_in_s=30))
    assert http.get(f"{link.path}?{link.query}").status_code == 200
    preflight = http.options(
        "/uploads",
        headers={
            "Origin": "http://testserver",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


@pytest.mark.parametrize(
    ("installed", "dicomweb", "says_viewer"),
    [(True, True, True), (False, True, False), (True, False, False)],
)
def test_config_names_the_viewer_only_when_it_can_show_studies(
    tmp_path: Path, installed: bool, dicomweb: bool, says_viewer: bool
) -> None:
    # Given a server with or without the viewer's build, serving DICOMweb or not
    build = tmp_path / "ohif"
    build.mkdir()
    http, _, _ = make_client(tmp_path, viewer_build=build if installed else None, dicomweb=dicomweb)
    # Then config.json links the viewer only when both are there
    config = http.get("/config.json").json()
    assert config.get("viewerUrl") == ("/viewer/" if says_viewer else None)
