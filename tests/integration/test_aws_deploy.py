"""``dicomlens deploy`` / ``destroy`` and infra/cleanup.sh against moto (no AWS account).

moto's CloudFormation skips the SAM transform, so the stacks here are plain CloudFormation
with versioned buckets: enough to prove that the site is published with its config, that
every version and delete marker is removed, and that the stack is deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from aws_support import REGION
from dicomlens.cli import build_parser
from dicomlens.cli import deploy as deploy_command

ROOT = Path(__file__).resolve().parents[2]
STACK_TEMPLATE = {
    "Resources": {
        "UploadBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
        },
        "WebsiteBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
        },
    },
    "Outputs": {
        "WebsiteBucketName": {"Value": {"Ref": "WebsiteBucket"}},
        "UploadBucketName": {"Value": {"Ref": "UploadBucket"}},
        "ApiUrl": {"Value": "https://abc123.execute-api.eu-west-1.amazonaws.com"},
        "WebsiteUrl": {"Value": "https://d111111abcdef8.cloudfront.net"},
        "DistributionId": {"Value": "E2QWRUHEXAMPLE"},
    },
}


@pytest.fixture
def moto_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=30)  # moto's state is per process
    try:
        yield endpoint
    finally:
        server.stop()


class Session:
    """A boto3 session whose clients all talk to the moto server."""

    def __init__(self, endpoint: str) -> None:
        self._session = boto3.session.Session(region_name=REGION)
        self._endpoint = endpoint
        self.invalidations: list[dict[str, Any]] = []

    def client(self, name: str) -> Any:
        if name == "cloudfront":
            return self  # record invalidations (a distribution needs a real origin)
        return self._session.client(name, endpoint_url=self._endpoint)

    def create_invalidation(self, **request: Any) -> None:
        self.invalidations.append(request)


def make_stack(session: Session, name: str) -> dict[str, str]:
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(STACK_TEMPLATE))
    return deploy_command.stack_outputs(cloudformation, name)


def fill_with_versions(s3: Any, bucket: str) -> None:
    for number in range(3):
        s3.put_object(Bucket=bucket, Key="uploads/a/scan.dcm", Body=f"v{number}".encode())
    s3.put_object(Bucket=bucket, Key="derived/a/preview.png", Body=b"png")
    s3.delete_object(Bucket=bucket, Key="derived/a/preview.png")  # leaves a delete marker


def test_cli_has_deploy_and_destroy() -> None:
    args = build_parser().parse_args(["deploy", "--stage", "test", "--region", REGION, "--guided"])
    assert (args.stage, args.region, args.guided) == ("test", REGION, True)
    assert build_parser().parse_args(["destroy", "--yes"]).run is deploy_command.run_destroy


def test_sam_commands_build_then_deploy_the_stage() -> None:
    build, deploy = deploy_command.sam_commands(
        sam="sam", stage="test", region=REGION, guided=False, parameters=["AlarmEmail=a@b.org"]
    )
    assert build[:2] == ["sam", "build"]
    assert str(deploy_command.TEMPLATE) in build
    assert deploy[:2] == ["sam", "deploy"]
    assert deploy[deploy.index("--stack-name") + 1] == "dicomlens-test"
    assert "Stage=test" in deploy
    assert "AlarmEmail=a@b.org" in deploy
    assert deploy[deploy.index("--region") + 1] == REGION
    assert "CAPABILITY_IAM" in deploy
    # sam deploy takes the built template (its layer holds the libraries), never the source
    assert deploy[deploy.index("--template-file") + 1] == ".aws-sam/build/template.yaml"
    assert "--config-env" not in deploy  # infra/samconfig.toml has no [test] section


def test_the_prod_stage_deploys_with_its_samconfig_section() -> None:
    # Given infra/samconfig.toml's [prod] section (deletion protection, a year of logs)
    _build, deploy = deploy_command.sam_commands(
        sam="sam",
        stage="prod",
        region=REGION,
        guided=False,
        parameters=["LogRetentionDays=731"],
        template=ROOT / "infra" / "template.yaml",
    )
    # Then sam deploy uses that section, and its parameters are passed again (a command-line
    # --parameter-overrides replaces the config's list): the user's value wins for a key
    assert deploy[deploy.index("--config-env") + 1] == "prod"
    overrides = deploy[deploy.index("--parameter-overrides") + 1 : deploy.index("--region")]
    assert overrides == ["EnableDeletionProtection=true", "Stage=prod", "LogRetentionDays=731"]
    assert deploy[deploy.index("--stack-name") + 1] == "dicomlens-prod"


def test_samconfig_names_the_source_template_only_for_build_and_validate() -> None:
    # A global template_file makes `sam deploy` package the source template: an empty layer
    config = tomllib.loads((ROOT / "infra" / "samconfig.toml").read_text())
    for env, commands in config.items():
        if not isinstance(commands, dict):
            continue
        for command, section in commands.items():
            if "template_file" in section.get("parameters", {}):
                assert command in ("build", "validate"), f"[{env}.{command}] names a template"


def test_deploy_publishes_the_site_with_its_api_url_and_invalidates(moto_http: str) -> None:
    session = Session(moto_http)
    outputs = make_stack(session, "dicomlens-test")
    s3 = session.client("s3")
    s3.put_object(Bucket=outputs["WebsiteBucketName"], Key="stale.js", Body=b"old")
    commands: list[Sequence[str]] = []

    def runner(command: Sequence[str]) -> int:
        commands.append(command)
        return 0

    args = argparse.Namespace(
        stage="test", region=REGION, guided=False, parameter=[], sam="sam", project_dir=ROOT
    )
    assert deploy_command.run_deploy(args, runner=runner, session=session) == 0
    assert [c[1] for c in commands] == ["build", "deploy"]
    bucket = outputs["WebsiteBucketName"]
    config = json.loads(s3.get_object(Bucket=bucket, Key="config.json")["Body"].read())
    assert config == {"apiBaseUrl": outputs["ApiUrl"]}
    index = s3.get_object(Bucket=bucket, Key="index.html")
    assert index["ContentType"] == "text/html"
    assert index["Body"].read() == (ROOT / "web" / "index.html").read_bytes()
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "stale.js" not in keys
    (invalidation,) = session.invalidations
    assert invalidation["DistributionId"] == outputs["DistributionId"]
    assert invalidation["InvalidationBatch"]["Paths"]["Items"] == ["/*"]


def test_deploy_publishes_the_viewer_when_the_stack_serves_dicomweb(
    moto_http: str, tmp_path: Path
) -> None:
    # Given a stack with DICOMweb (its outputs name the root and the user pool's client)
    session = Session(moto_http)
    cloudformation = session.client("cloudformation")
    api = STACK_TEMPLATE["Outputs"]["ApiUrl"]["Value"]
    with_dicomweb = {
        **STACK_TEMPLATE,
        "Outputs": {
            **STACK_TEMPLATE["Outputs"],
            "DicomWebRoot": {"Value": f"{api}/dicomweb"},
            "OidcAuthority": {"Value": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X"},
            "OidcClientId": {"Value": "client123"},
            "SiteUrl": {"Value": "https://d111111abcdef8.cloudfront.net"},
        },
    }
    cloudformation.create_stack(StackName="dicomlens-test", TemplateBody=json.dumps(with_dicomweb))
    outputs = deploy_command.stack_outputs(cloudformation, "dicomlens-test")
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html>")
    (dist / "0ddf166f7a343eda.wasm").write_bytes(b"\0asm")
    args = argparse.Namespace(
        stage="test", region=REGION, guided=False, parameter=[], sam="sam", project_dir=ROOT
    )
    # When it is deployed
    code = deploy_command.run_deploy(
        args, runner=lambda command: 0, session=session, viewer_installer=lambda: dist
    )
    # Then the site and the viewer are in the bucket, and one invalidation covers both
    assert code == 0
    s3 = session.client("s3")
    bucket = outputs["WebsiteBucketName"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"index.html", "config.json", "viewer/index.html", "viewer/app-config.js"} <= keys
    wasm = s3.head_object(Bucket=bucket, Key="viewer/0ddf166f7a343eda.wasm")
    assert wasm["ContentType"] == "application/wasm"
    config = s3.get_object(Bucket=bucket, Key="viewer/app-config.js")["Body"].read().decode()
    assert f'"qidoRoot": "{api}/dicomweb"' in config
    assert '"client_id": "client123"' in config
    # And the page's config.json links studies to the published viewer
    page_config = json.loads(s3.get_object(Bucket=bucket, Key="config.json")["Body"].read())
    assert page_config == {"apiBaseUrl": api, "viewerUrl": "/viewer/"}
    (invalidation,) = session.invalidations
    assert invalidation["InvalidationBatch"]["Paths"]["Items"] == ["/*"]  # /viewer/* included


def test_deploy_stops_when_sam_fails(moto_http: str) -> None:
    session = Session(moto_http)
    args = argparse.Namespace(
        stage="test", region=REGION, guided=False, parameter=[], sam="sam", project_dir=ROOT
    )
    assert deploy_command.run_deploy(args, runner=lambda command: 1, session=session) == 1


def test_destroy_empties_versioned_buckets_and_deletes_the_stack(moto_http: str) -> None:
    session = Session(moto_http)
    outputs = make_stack(session, "dicomlens-test")
    s3 = session.client("s3")
    for bucket in (outputs["UploadBucketName"], outputs["WebsiteBucketName"]):
        fill_with_versions(s3, bucket)
    args = argparse.Namespace(stage="test", region=REGION, yes=True)
    assert deploy_command.run_destroy(args, session=session) == 0
    for bucket in (outputs["UploadBucketName"], outputs["WebsiteBucketName"]):
        listing = _versions(s3, bucket)
        assert listing is None or listing == 0
    stacks = session.client("cloudformation").list_stacks()["StackSummaries"]
    assert {s["StackStatus"] for s in stacks if s["StackName"] == "dicomlens-test"} == {
        "DELETE_COMPLETE"
    }


def _versions(s3: Any, bucket: str) -> int | None:
    """How many versions and markers remain; None when the bucket itself is gone."""
    from botocore.exceptions import ClientError

    try:
        page = s3.list_object_versions(Bucket=bucket)
    except ClientError:
        return None
    return len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))


def test_cleanup_script_does_the_same_with_the_aws_cli(moto_http: str) -> None:
    aws = shutil.which("aws")
    if aws is None:
        pytest.skip("the AWS CLI is not installed")  # the Python deploy path is tested above
    probe = subprocess.run([aws, "--version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the AWS CLI does not run here")
    session = Session(moto_http)
    outputs = make_stack(session, "dicomlens-script")
    s3 = session.client("s3")
    fill_with_versions(s3, outputs["UploadBucketName"])
    env = dict(os.environ, AWS_ENDPOINT_URL=moto_http, AWS_PAGER="")
    result = subprocess.run(
        ["bash", str(ROOT / "infra" / "cleanup.sh"), "dicomlens-script", REGION],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deleted stack dicomlens-script" in result.stdout
    assert _versions(s3, outputs["UploadBucketName"]) in (None, 0)


def test_shell_scripts_expand_arrays_safely_for_bash_3_2() -> None:
    # macOS ships bash 3.2, where "${a[@]}" of an empty array is an unbound variable under
    # set -u; each expansion must be guarded as ${a[@]+"${a[@]}"}
    scripts = [*(ROOT / "infra").glob("*.sh"), ROOT / ".ci" / "run"]
    unguarded = []
    for script in scripts:
        for number, line in enumerate(script.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            for match in re.finditer(r'"\$\{(\w+)\[@\]\}"', code):
                guard = "${" + match.group(1) + '[@]+"'
                if guard not in code[: match.start() + 1]:
                    unguarded.append(f"{script.name}:{number}: {line.strip()}")
    assert not unguarded, unguarded
