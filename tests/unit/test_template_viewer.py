"""The viewer behind CloudFront: /viewer/ routes of the single-page app reach index.html,
files keep their paths, the page's own behaviour is unchanged, nothing blocks OHIF's
workers and WebAssembly, and the outputs the deploy reads are there exactly when the stack
serves DICOMweb."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dicomlens.cli.deploy_viewer import viewer_target
from dicomlens.local.routes import load_template

TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "infra" / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
DISTRIBUTION: dict[str, Any] = RESOURCES["WebsiteDistribution"]["Properties"]["DistributionConfig"]
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"  # Managed-SecurityHeadersPolicy


def viewer_behaviour() -> dict[str, Any]:
    (behaviour,) = [b for b in DISTRIBUTION["CacheBehaviors"] if b["PathPattern"] == "/viewer*"]
    found: dict[str, Any] = behaviour
    return found


def test_the_viewer_paths_run_the_routes_function_on_viewer_request() -> None:
    behaviour = viewer_behaviour()
    assert behaviour["TargetOriginId"] == DISTRIBUTION["DefaultCacheBehavior"]["TargetOriginId"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    (association,) = behaviour["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    assert association["FunctionARN"] == {
        "Fn::GetAtt": "ViewerRoutesFunction.FunctionMetadata.FunctionARN"
    }
    function = RESOURCES["ViewerRoutesFunction"]["Properties"]
    assert function["AutoPublish"] is True
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"


def test_the_page_keeps_its_behaviour_and_error_page() -> None:
    default = DISTRIBUTION["DefaultCacheBehavior"]
    assert "FunctionAssociations" not in default
    assert DISTRIBUTION["DefaultRootObject"] == "index.html"
    (error,) = DISTRIBUTION["CustomErrorResponses"]
    assert (error["ErrorCode"], error["ResponsePagePath"]) == (403, "/index.html")


def test_no_content_security_policy_blocks_ohif() -> None:
    # OHIF starts web workers from blob: URLs and compiles WebAssembly decoders. The managed
    # security headers policy sets no CSP; a custom policy would have to allow both.
    policy = viewer_behaviour()["ResponseHeadersPolicyId"]
    if policy == SECURITY_HEADERS:
        return
    logical_id = policy["Ref"] if isinstance(policy, dict) else policy
    config = RESOURCES[logical_id]["Properties"]["ResponseHeadersPolicyConfig"]
    csp = config.get("SecurityHeadersConfig", {}).get("ContentSecurityPolicy")
    if csp is not None:
        text = csp["ContentSecurityPolicy"]
        assert "blob:" in text
        assert "'wasm-unsafe-eval'" in text


def test_the_deploy_reads_outputs_that_exist_only_with_dicomweb() -> None:
    outputs = TEMPLATE["Outputs"]
    assert outputs["DicomWebRoot"]["Condition"] == "UseDicomWeb"
    assert str(outputs["DicomWebRoot"]["Value"]["Fn::Sub"]).endswith("/dicomweb")
    assert outputs["ViewerUrl"]["Condition"] == "UseDicomWeb"
    assert outputs["OidcAuthority"] == {
        "Condition": "UseJwtAuth",
        "Description": outputs["OidcAuthority"]["Description"],
        "Value": {"Ref": "JwtIssuer"},
    }
    assert outputs["OidcClientId"]["Value"] == {"Ref": "JwtAudience"}
    # and those are the names the deploy reads
    sample = {
        "DicomWebRoot": "https://a/dicomweb",
        "OidcAuthority": "https://issuer",
        "OidcClientId": "client",
        "SiteUrl": "https://site",
        "WebsiteUrl": "https://site",
    }
    assert not isinstance(viewer_target(sample), str)
    assert set(sample) <= set(outputs)


def _run_function(events: list[dict[str, Any]], node: str) -> list[Any]:
    code = RESOURCES["ViewerRoutesFunction"]["Properties"]["FunctionCode"]
    script = (
        "const fs = require('fs');\n"
        "const input = JSON.parse(fs.readFileSync(0, 'utf8'));\n"
        "const handler = new Function(input.code + '\\nreturn handler;')();\n"
        "process.stdout.write(JSON.stringify(input.events.map((e) => handler(e))));\n"
    )
    done = subprocess.run(
        [node, "-e", script],
        input=json.dumps({"code": code, "events": events}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers: list[Any] = json.loads(done.stdout)
    return answers


@pytest.mark.parametrize(
    ("uri", "served"),
    [
        ("/viewer/", "/viewer/index.html"),
        ("/viewer/viewer", "/viewer/index.html"),  # ?StudyInstanceUIDs=... is the query
        ("/viewer/callback", "/viewer/index.html"),  # back from sign-in
        ("/viewer/viewer/dicomweb", "/viewer/index.html"),
        ("/viewer/app.bundle.0f6159c501addfe9.js", "/viewer/app.bundle.0f6159c501addfe9.js"),
        ("/viewer/ort/ort-wasm-simd.wasm", "/viewer/ort/ort-wasm-simd.wasm"),
        ("/viewer/app-config.js", "/viewer/app-config.js"),
        ("/viewer/silent-refresh.html", "/viewer/silent-refresh.html"),
        ("/viewers.html", "/viewers.html"),  # not the viewer: left alone
    ],
)
def test_the_routes_function_sends_app_routes_to_index_and_files_through(
    uri: str, served: str, unavailable: Callable[[str], None]
) -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
        return
    event = {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": "192.0.2.1"},
        "request": {
            "method": "GET",
            "uri": uri,
            "querystring": {"StudyInstanceUIDs": {"value": "1.2.3"}},
            "headers": {},
            "cookies": {},
        },
    }
    (answer,) = _run_function([event], node)
    assert answer["uri"] == served
    assert answer["querystring"] == {"StudyInstanceUIDs": {"value": "1.2.3"}}


def test_the_bare_viewer_path_is_redirected(unavailable: Callable[[str], None]) -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
        return
    event = {"request": {"method": "GET", "uri": "/viewer", "querystring": {}, "headers": {}}}
    (answer,) = _run_function([event], node)
    assert answer["statusCode"] == 308
    assert answer["headers"]["location"]["value"] == "/viewer/"
