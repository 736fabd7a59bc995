"""The OHIF build's preparation for /viewer/, its pinned integrity, its app config, and the
/viewer/ routes with and without an installed build."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dicomlens.dicomweb.content_coding import accepts_gzip
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
    config = json.loads(text.removeprefix("window.config = ").split(";\n", 1)[0])
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


def test_install_precompresses_the_assets_of_a_build_installed_before(tmp_path: Path) -> None:
    # Given an installed build without gzip copies (as installed by an earlier version)
    dist = ohif.build_dir(tmp_path)
    dist.parent.mkdir(parents=True)
    _fake_dist(dist.parent)
    (dist / "big.bundle.0123456789abcdef.js").write_text("var a = 1;\n" * 5000)
    (dist.parent / ohif.COMPLETE).write_text("pinned\n")
    ohif.prepare(dist)
    # When it is installed again
    assert ohif.install(tmp_path, npm="/nonexistent/npm") == dist
    # Then each script worth compressing has a gzip copy holding the same bytes
    packed = dist / "big.bundle.0123456789abcdef.js.gz"
    assert gzip.decompress(packed.read_bytes()) == (dist / packed.stem).read_bytes()
    assert not (dist / "index.html.gz").exists()  # the app page is answered for its routes
    # And a second install writes nothing new
    assert ohif.precompress(dist) == 0


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        ("gzip, deflate, br, zstd", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("br, *;q=0.1", True),
    ],
)
def test_gzip_is_sent_only_where_accept_encoding_admits_it(
    accept_encoding: str, expected: bool
) -> None:
    assert accepts_gzip(accept_encoding) is expected


def test_assets_are_sent_gzipped_to_browsers_that_accept_it_and_hashed_ones_cached(
    tmp_path: Path,
) -> None:
    # Given an installed build whose assets were precompressed
    dist = _fake_dist(tmp_path)
    script = dist / "12.bundle.786e5b556f903028.js"
    script.write_text("const value = 'viewer';\n" * 2000)
    ohif.prepare(dist)
    ohif.precompress(dist)
    client = TestClient(Starlette(routes=viewer_routes(dist)), base_url="http://127.0.0.1:8080")
    # When a browser that accepts gzip asks for a hashed bundle
    answer = client.get(f"/viewer/{script.name}", headers={"Accept-Encoding": "gzip, br"})
    # Then it gets the gzip copy with the script's media type, cacheable for good
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert answer.headers["vary"] == "Accept-Encoding"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.text == script.read_text()  # the client decoded it
    # And a client that does not accept gzip gets the file as stored
    plain = client.get(f"/viewer/{script.name}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == script.read_bytes()
    # And unhashed names are revalidated hourly, the app page and config never cached
    assert client.get("/viewer/app.bundle.js").headers["cache-control"] == "public, max-age=3600"
    page = client.get("/viewer/viewer?StudyInstanceUIDs=1.2.3")
    assert page.headers["cache-control"] == "no-store"
    assert "content-encoding" not in page.headers
    assert client.get("/viewer/app-config.js").headers["cache-control"] == "no-store"
