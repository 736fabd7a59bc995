"""The OHIF viewer on the deployed site: ``dicomlens deploy`` publishes the prepared build
under ``viewer/`` of the website bucket (moto S3) with an ``app-config.js`` for the deployed
DICOMweb and its sign-in, only when the stack serves DICOMweb."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from dicomlens.cli import deploy as deploy_command
from dicomlens.cli.deploy_viewer import (
    ViewerTarget,
    deployed_app_config,
    publish_viewer,
    viewer_target,
)
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.viewer import ohif
from dicomlens.viewer.site_files import site_files

REGION = "eu-west-1"
BUCKET = "dicomlens-test-site"
API = "https://abc123.execute-api.eu-west-1.amazonaws.com"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
CLIENT_ID = "4example5client6id"
SITE = "https://d111111abcdef8.cloudfront.net"
OUTPUTS = {
    "ApiUrl": API,
    "WebsiteUrl": SITE,
    "SiteUrl": SITE,
    "DicomWebRoot": f"{API}/dicomweb",
    "OidcAuthority": ISSUER,
    "OidcClientId": CLIENT_ID,
    "WebsiteBucketName": BUCKET,
}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield client


def fake_build(folder: Path) -> Path:
    """A prepared build with one file of each kind the real one has."""
    dist = folder / "dist"
    files = {
        "index.html": "<!doctype html><script src='/viewer/app-config.js'></script>",
        "app-config.js": "window.config = {dataSources: ['https://demo.example']};",
        "app.bundle.0f6159c501addfe9.js": "__webpack_require__.p = '/viewer/';",
        "app.bundle.css": "body{}",
        "1602.css": ".a{}",
        "0ddf166f7a343eda.wasm": "\0asm",
        "ort/ort-wasm-simd.wasm": "\0asm",
        "ort/ort.min.js.map": "{}",
        "a34f9d1faa5f3315.woff2": "wOF2",
        "ohif-logo.svg": "<svg/>",
        "manifest.json": "{}",
        "assets/favicon.ico": "ico",
        "assets/manifest.webapp": "{}",
        "customizations/worklist/patientBirthDate.jsonc": "{}",
        "sw.js": "self.x = 1;",
        "_headers": "/* x",
        "_redirects": "/* /index.html 200",
        "serve.json": "{}",
    }
    for name, text in files.items():
        path = dist / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return dist


def objects(s3: Any) -> dict[str, dict[str, Any]]:
    """Every object of the bucket -> its head."""
    listing = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: s3.head_object(Bucket=BUCKET, Key=item["Key"]) for item in listing}


def target() -> ViewerTarget:
    found = viewer_target(OUTPUTS)
    assert isinstance(found, ViewerTarget)
    return found


def config_of(text: str) -> dict[str, Any]:
    body = text.removeprefix("window.config = ").split(";\n", 1)[0]
    loaded: dict[str, Any] = json.loads(body)
    return loaded


def test_the_build_goes_under_viewer_with_its_types_and_caching(s3: Any, tmp_path: Path) -> None:
    # Given a prepared build and a stack that serves DICOMweb
    dist = fake_build(tmp_path)
    # When it is published
    publish_viewer(s3, bucket=BUCKET, dist=dist, app_config=deployed_app_config(target()))
    # Then every file of the site is under viewer/, and OHIF's files for other hosts are not
    found = objects(s3)
    assert all(key.startswith("viewer/") for key in found)
    for key in ("_headers", "_redirects", "serve.json"):
        assert f"viewer/{key}" not in found
    types = {key.removeprefix("viewer/"): head["ContentType"] for key, head in found.items()}
    assert types["0ddf166f7a343eda.wasm"] == "application/wasm"
    assert types["ort/ort-wasm-simd.wasm"] == "application/wasm"
    assert types["app.bundle.0f6159c501addfe9.js"].startswith("text/javascript")
    assert types["app-config.js"].startswith("text/javascript")
    assert types["index.html"].startswith("text/html")
    assert types["app.bundle.css"].startswith("text/css")
    assert types["a34f9d1faa5f3315.woff2"] == "font/woff2"
    assert types["ohif-logo.svg"] == "image/svg+xml"
    assert types["assets/favicon.ico"] == "image/x-icon"
    assert types["ort/ort.min.js.map"].startswith("application/json")
    assert types["customizations/worklist/patientBirthDate.jsonc"].startswith("application/json")
    assert types["assets/manifest.webapp"] == "application/x-web-app-manifest+json"
    # content-hashed names are cached for a year; entry points revalidated; the rest briefly
    cache = {key.removeprefix("viewer/"): head["CacheControl"] for key, head in found.items()}
    for hashed in (
        "app.bundle.0f6159c501addfe9.js",
        "0ddf166f7a343eda.wasm",
        "a34f9d1faa5f3315.woff2",
    ):
        assert cache[hashed] == "public, max-age=31536000, immutable"
    for entry in ("index.html", "app-config.js", "sw.js", "manifest.json"):
        assert cache[entry] == "no-cache"
    for other in ("app.bundle.css", "1602.css", "ort/ort-wasm-simd.wasm"):
        assert cache[other] == "public, max-age=300"


def test_app_config_reads_the_deployed_dicomweb_and_signs_in_with_the_user_pool(
    s3: Any, tmp_path: Path
) -> None:
    publish_viewer(
        s3, bucket=BUCKET, dist=fake_build(tmp_path), app_config=deployed_app_config(target())
    )
    text = s3.get_object(Bucket=BUCKET, Key="viewer/app-config.js")["Body"].read().decode()
    config = config_of(text)
    # the demo server of OHIF's own app-config.js is gone
    assert "demo.example" not in text
    (source,) = config["dataSources"]
    roots = {source["configuration"][k] for k in ("qidoRoot", "wadoRoot", "wadoUriRoot")}
    assert roots == {f"{API}/dicomweb"}
    assert config["routerBasename"] == "/viewer"
    (oidc,) = config["oidc"]
    assert oidc == {
        "authority": ISSUER,
        "client_id": CLIENT_ID,
        "redirect_uri": f"{SITE}/viewer/callback",
        "post_logout_redirect_uri": f"{SITE}/viewer/",
        "response_type": "code",
        "scope": "openid",
    }
    # a public file: no secret of any kind, and no local token prompt
    assert "viewer-session" not in text
    assert "secret" not in text.lower()


def test_a_custom_site_origin_is_where_sign_in_returns() -> None:
    found = viewer_target({**OUTPUTS, "SiteUrl": "https://images.example.org"})
    assert isinstance(found, ViewerTarget)
    assert found.oidc.redirect_uri == "https://images.example.org/viewer/callback"


def test_a_new_build_replaces_the_old_one_and_unchanged_files_are_not_sent_again(
    s3: Any, tmp_path: Path
) -> None:
    # Given a build published once, and an object the build never had
    dist = fake_build(tmp_path)
    config = deployed_app_config(target())
    publish_viewer(s3, bucket=BUCKET, dist=dist, app_config=config)
    s3.put_object(Bucket=BUCKET, Key="viewer/9999.bundle.0123456789abcdef.js", Body=b"old")
    s3.put_object(Bucket=BUCKET, Key="index.html", Body=b"the page")  # the site's own
    # When a build with a changed bundle is published
    (dist / "app.bundle.0f6159c501addfe9.js").unlink()
    (dist / "app.bundle.1111111111111111.js").write_text("new")
    done = publish_viewer(s3, bucket=BUCKET, dist=dist, app_config=config)
    # Then the old build's files are gone, the new one is there, the page is untouched
    keys = set(objects(s3))
    assert "viewer/9999.bundle.0123456789abcdef.js" not in keys
    assert "viewer/app.bundle.0f6159c501addfe9.js" not in keys
    assert "viewer/app.bundle.1111111111111111.js" in keys
    assert "index.html" in keys
    assert set(done.deleted) == {
        "viewer/9999.bundle.0123456789abcdef.js",
        "viewer/app.bundle.0f6159c501addfe9.js",
    }
    # and only what changed was uploaded (app-config.js is always written)
    assert set(done.uploaded) == {"viewer/app.bundle.1111111111111111.js", "viewer/app-config.js"}
    assert "viewer/0ddf166f7a343eda.wasm" in done.unchanged


def test_without_dicomweb_nothing_is_published_and_an_old_viewer_is_removed(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a viewer from an earlier deploy, and a stack now without DICOMweb
    s3.put_object(Bucket=BUCKET, Key="viewer/index.html", Body=b"old viewer")
    s3.put_object(Bucket=BUCKET, Key="index.html", Body=b"the page")
    outputs = {k: v for k, v in OUTPUTS.items() if k not in ("DicomWebRoot",)}
    installs: list[int] = []

    def install() -> Path:
        installs.append(1)
        return fake_build(tmp_path)

    # When the deploy reaches the viewer
    outcome = deploy_command.deploy_viewer(s3, bucket=BUCKET, outputs=outputs, install=install)
    assert outcome == "absent"
    # Then the build was not even installed, the old viewer is gone, the page stays, and it says why
    assert installs == []
    assert set(objects(s3)) == {"index.html"}
    said = capsys.readouterr().out
    assert "viewer: not published" in said
    assert "EnableDicomWeb=true" in said


def test_without_the_issuer_the_viewer_is_not_published() -> None:
    reason = viewer_target({**OUTPUTS, "OidcAuthority": ""})
    assert isinstance(reason, str)
    assert "JwtIssuer" in reason


def test_a_build_that_cannot_be_installed_fails_the_deploy_and_says_why(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    def install() -> Path:
        raise DicomlensError(ErrorCode.SERVICE_UNAVAILABLE, "npm could not fetch @ohif/app")

    outcome = deploy_command.deploy_viewer(s3, bucket=BUCKET, outputs=OUTPUTS, install=install)
    assert outcome == "failed"
    assert "npm could not fetch" in capsys.readouterr().err
    assert objects(s3) == {}


def test_the_site_sync_leaves_the_viewer_to_the_viewer_sync(s3: Any, tmp_path: Path) -> None:
    # Given a published viewer
    publish_viewer(
        s3, bucket=BUCKET, dist=fake_build(tmp_path), app_config=deployed_app_config(target())
    )
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html>")
    # When the page is synced (it deletes what web/ does not have)
    deploy_command.sync_site(s3, bucket=BUCKET, web_dir=web, api_url=API)
    # Then the viewer is still there
    keys = set(objects(s3))
    assert {"index.html", "config.json", "viewer/index.html", "viewer/app-config.js"} <= keys


def test_the_real_build_has_a_known_type_for_every_file(
    unavailable: Callable[[str], None],
) -> None:
    # The installed build (when there is one here; CI installs it with make viewer)
    from dicomlens.viewer.site_files import DEFAULT_TYPE, site_files

    dist = ohif.installed(ohif.default_cache_dir())
    if dist is None:
        unavailable("the OHIF build is not installed (make viewer)")
        return
    unknown = [f.key for f in site_files(dist) if f.content_type == DEFAULT_TYPE]
    assert unknown == []
    wasm = [f for f in site_files(dist) if f.key.endswith(".wasm")]
    assert wasm
    assert all(f.content_type == "application/wasm" for f in wasm)


def test_the_local_servers_gzip_copies_are_not_published(tmp_path: Path) -> None:
    # Given a build with the gzip copies the local server answers from (CloudFront compresses
    # by itself) and a half-written one
    dist = fake_build(tmp_path)
    script = next(p for p in dist.rglob("*.js") if p.name != "app-config.js")
    (script.parent / (script.name + ".gz")).write_bytes(b"\x1f\x8b")
    (script.parent / (script.name + ".gz.partial")).write_bytes(b"\x1f")
    # Then neither is a site file
    keys = {f.key for f in site_files(dist)}
    assert not any(key.endswith((".gz", ".partial")) for key in keys)
    assert script.relative_to(dist).as_posix() in keys
