"""The viewer behind the API token: a person with the token trades it for an HttpOnly cookie
that DICOMweb reads accept, and the token is never in anything served without it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from dicomlens.adapters.local.files import LocalBlobStore
from dicomlens.adapters.local.signing import Signer
from dicomlens.local import routes as route_table
from dicomlens.local.app import build_app
from dicomlens.local.event_queue import EventQueue
from dicomlens.local.viewer_session import COOKIE, LIFETIME_S, ViewerSessions
from dicomlens.viewer import ohif
from fakes import FakeClock

TOKEN = "a-long-random-api-token-0123456789"  # noqa: S105 - a test value
BEARER = {"authorization": f"Bearer {TOKEN}"}
STUDIES = "/dicomweb/studies"


def make_client(
    tmp_path: Path,
    clock: FakeClock,
    *,
    api_token: str | None = TOKEN,
    base: str = "http://testserver",
) -> TestClient:
    store = LocalBlobStore(tmp_path / "blobs", signer=Signer(b"s" * 32), base_url=base, clock=clock)
    template = route_table.load_template(route_table.default_template_path())
    build = tmp_path / "dist"
    build.mkdir()
    (build / "index.html").write_text("<!doctype html><title>OHIF</title>")
    app = build_app(
        routes=route_table.http_routes(template),
        blobs=store,
        queue=EventQueue(tmp_path / "q.sqlite3"),
        clock=clock,
        max_upload_bytes=1000,
        notify=lambda: None,
        api_base_url=base,
        cors_origin=base,
        web_dir=None,
        api_token=api_token,
        viewer_build=build,
    )
    return TestClient(app, base_url=base, raise_server_exceptions=False)


def open_session(http: TestClient) -> str:
    answer = http.post("/viewer-session", headers=BEARER)
    assert answer.status_code == 204, answer.text
    return answer.headers["set-cookie"]


@pytest.mark.usefixtures("world")
def test_the_session_cookie_is_httponly_strict_and_only_for_dicomweb(tmp_path: Path) -> None:
    http = make_client(tmp_path, FakeClock())
    cookie = open_session(http)
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "path=/dicomweb" in cookie.lower()
    assert f"max-age={LIFETIME_S}" in cookie.lower()
    assert TOKEN not in cookie
    assert "secure" not in attributes  # plain http on loopback: a Secure cookie would be dropped


@pytest.mark.usefixtures("world")
def test_over_https_the_cookie_is_secure(tmp_path: Path) -> None:
    http = make_client(tmp_path, FakeClock(), base="https://pacs.example")
    assert "secure" in open_session(http).lower()


@pytest.mark.usefixtures("world")
def test_dicomweb_reads_work_with_the_cookie_and_not_without(tmp_path: Path) -> None:
    http = make_client(tmp_path, FakeClock())
    # Given no session: the viewer's QIDO is refused
    refused = http.get(STUDIES)
    assert refused.status_code == 401
    assert "/viewer/" in refused.json()["error"]["message"]
    # When the token is traded for a session
    open_session(http)
    # Then the same read works with the cookie alone (TestClient keeps it like a browser)
    answer = http.get(STUDIES, headers={"accept": "application/dicom+json"})
    assert answer.status_code in (200, 204), answer.text
    assert http.head(STUDIES).status_code != 401


@pytest.mark.usefixtures("world")
def test_the_cookie_changes_nothing_stow_and_the_api_still_need_the_token(tmp_path: Path) -> None:
    http = make_client(tmp_path, FakeClock())
    open_session(http)
    stow = http.post(
        STUDIES,
        content=b"--b--\r\n",
        headers={"content-type": 'multipart/related; type="application/dicom"; boundary=b'},
    )
    assert stow.status_code == 401
    assert http.post("/uploads", json={"fileName": "a.dcm", "size": 3}).status_code == 401
    assert http.get("/openapi.json").status_code == 401
    # the cookie is not sent outside /dicomweb, and the guard would not take it there either
    assert http.get("/jobs/0123", headers={"cookie": f"{COOKIE}=x"}).status_code == 401


@pytest.mark.usefixtures("world")
def test_a_wrong_or_missing_token_gets_no_session(tmp_path: Path) -> None:
    http = make_client(tmp_path, FakeClock())
    for headers in (
        {},
        {"authorization": "Bearer wrong-token-wrong-token"},
        {"authorization": TOKEN},
    ):
        answer = http.post("/viewer-session", headers=headers)
        assert answer.status_code == 401
        assert "set-cookie" not in answer.headers
    assert http.get(STUDIES).status_code == 401
    # only POST opens a session (a link or an image tag cannot)
    assert http.get("/viewer-session", headers=BEARER).status_code in (404, 405)


@pytest.mark.usefixtures("world")
def test_a_forged_expired_or_other_servers_cookie_is_refused(tmp_path: Path) -> None:
    clock = FakeClock()
    http = make_client(tmp_path, clock)
    other = ViewerSessions("another-servers-token-0123456789", clock=clock).mint()
    expires = int(clock.now().timestamp()) + 60
    for value in (other, f"{expires}.{'0' * 64}", "garbage", "9" * 200):
        http.cookies.clear()
        assert http.get(STUDIES, headers={"cookie": f"{COOKIE}={value}"}).status_code == 401
    # a real session ends after its lifetime
    http.cookies.clear()
    value = ViewerSessions(TOKEN, clock=clock).mint()
    assert http.get(STUDIES, headers={"cookie": f"{COOKIE}={value}"}).status_code != 401
    clock.advance(LIFETIME_S + 1)
    assert http.get(STUDIES, headers={"cookie": f"{COOKIE}={value}"}).status_code == 401


@pytest.mark.usefixtures("world")
def test_the_viewer_config_asks_for_the_token_but_never_holds_it(tmp_path: Path) -> None:
    http = make_client(tmp_path, FakeClock())
    config = http.get("/viewer/app-config.js")
    assert config.status_code == 200
    assert TOKEN not in config.text
    assert '"/viewer-session"' in config.text
    assert "http://testserver/dicomweb" in config.text
    assert TOKEN not in http.get("/viewer/").text
    assert TOKEN not in http.get("/config.json").text


@pytest.mark.usefixtures("world")
def test_without_a_token_there_is_no_session_endpoint_and_no_prompt(tmp_path: Path) -> None:
    http = make_client(tmp_path, FakeClock(), api_token=None)
    assert http.post("/viewer-session", headers=BEARER).status_code in (404, 405)
    assert "viewer-session" not in http.get("/viewer/app-config.js").text
    assert http.get(STUDIES).status_code in (200, 204)


def test_the_session_gate_is_valid_javascript(unavailable: Any) -> None:
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
        return
    text = ohif.app_config_js("http://127.0.0.1:8080/dicomweb", session_path="/viewer-session")
    checked = subprocess.run(
        [node, "--check", "-"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
