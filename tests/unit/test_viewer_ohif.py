"""The OHIF build's preparation for /viewer/, its pinned integrity, its app config, and the
/viewer/ routes with and without an installed build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.local.viewer_routes import viewer_routes
from dicomlens.viewer import ohif


def _fake_dist(folder: Path) -> Path:
    dist = folder / "dist"
    dist.mkdir()
    (dist / "index.html").write_text(
        '<script>window.PUBLIC_URL="/"</script><link href="/assets/a.css">'
        '<script src="/app.bundle.js"></script><a href="//cdn.example/x">x</a>'
    )
    (dist / "app.bundle.js").write_text('__webpack_require__.p = "/";\nvar x = "/not/a/path";')
    (dist / "app.bundle.css").write_text("@font-face{src:url(/f.woff2)} .a{background:url(//x)}")
    return dist


def test_prepare_moves_the_build_under_viewer(tmp_path: Path) -> None:
    dist = _fake_dist(tmp_path)
    ohif.prepare(dist)
    html = (dist / "index.html").read_text()
    assert 'window.PUBLIC_URL="/viewer/"' in html
    assert 'href="/viewer/assets/a.css"' in html
    assert 'src="/viewer/app.bundle.js"' in html
    assert 'href="//cdn.example/x"' in html  # protocol-relative URLs are not paths
    script = (dist / "app.bundle.js").read_text()
    assert '__webpack_require__.p = "/viewer/"' in script
    assert '"/not/a/path"' in script
    css = (dist / "app.bundle.css").read_text()
    assert "url(/viewer/f.woff2)" in css
    assert "url(//x)" in css


def test_only_the_pinned_tarball_is_accepted() -> None:
    with pytest.raises(DicomlensError) as raised:
        ohif.check_integrity(b"not the OHIF tarball")
    assert raised.value.code == ErrorCode.VALIDATION_ERROR


def test_app_config_points_at_our_dicomweb_root() -> None:
    text = ohif.app_config_js("http://127.0.0.1:8080/dicomweb")
    assert text.startswith("window.config = ")
    config = json.loads(text.removeprefix("window.config = ").rstrip().rstrip(";"))
    assert config["routerBasename"] == "/viewer"
    (source,) = config["dataSources"]
    roots = {source["configuration"][k] for k in ("qidoRoot", "wadoRoot", "wadoUriRoot")}
    assert roots == {"http://127.0.0.1:8080/dicomweb"}
    assert source["configuration"]["imageRendering"] == "wadors"


def test_without_a_build_the_viewer_says_how_to_install_it() -> None:
    client = TestClient(Starlette(routes=viewer_routes(None)))
    for path in ("/viewer/", "/viewer/viewer?StudyInstanceUIDs=1.2.3"):
        answer = client.get(path)
        assert answer.status_code == 503
        assert "make viewer" in answer.text
    assert client.get("/viewer", follow_redirects=False).status_code == 308


def test_an_installed_build_serves_its_files_its_routes_and_our_config(tmp_path: Path) -> None:
    dist = _fake_dist(tmp_path)
    ohif.prepare(dist)
    client = TestClient(Starlette(routes=viewer_routes(dist)), base_url="http://127.0.0.1:8080")
    assert client.get("/viewer/app.bundle.js").text.startswith("__webpack_require__")
    page = client.get("/viewer/viewer?StudyInstanceUIDs=1.2.3")  # a route of the app
    assert page.status_code == 200
    assert "PUBLIC_URL" in page.text
    assert client.get("/viewer/missing.js").status_code == 404
    assert client.get("/viewer/..%2F..%2Fetc%2Fpasswd").status_code in (200, 404)
    assert "root:" not in client.get("/viewer/..%2F..%2Fetc%2Fpasswd").text
    config = client.get("/viewer/app-config.js")
    assert "http://127.0.0.1:8080/dicomweb" in config.text
