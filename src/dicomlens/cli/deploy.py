"""``dicomlens deploy`` and ``dicomlens destroy``: the AWS stack in one command.

``deploy`` runs ``sam build`` and ``sam deploy`` on ``infra/template.yaml``, reads the stack's
outputs, writes the site's ``config.json`` (the API URL) beside a copy of ``web/``, syncs it to
the website bucket, publishes the OHIF viewer under ``viewer/`` when the stack serves DICOMweb
(:mod:`dicomlens.cli.deploy_viewer`; otherwise removes it), and invalidates CloudFront.
``destroy`` empties the stack's versioned buckets (every version and delete marker:
CloudFormation cannot delete a non-empty bucket) and deletes the stack. Needs the ``aws``
extra (boto3) and the AWS SAM CLI.

``deploy`` works on a source checkout, not on the installed package: ``sam build`` reads
``infra/template.yaml`` and the code it points at (``../src``), and the site comes from
``web/``. The checkout is ``--project-dir``, by default the current directory or the nearest
parent that holds ``infra/template.yaml``.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from dicomlens.cli.deploy_viewer import (
    VIEWER_PREFIX,
    ViewerTarget,
    deployed_app_config,
    publish_viewer,
    remove_viewer,
    viewer_target,
)
from dicomlens.config import Settings
from dicomlens.domain.errors import DicomlensError
from dicomlens.viewer import ohif

# Paths inside the project directory (a source checkout).
TEMPLATE = Path("infra") / "template.yaml"
SAMCONFIG = "samconfig.toml"  # next to the template
BUILT_TEMPLATE = Path(".aws-sam") / "build" / "template.yaml"  # sam build's output, from there
WEB_DIR = Path("web")
SAM_VENV = Path(".ci") / "tools" / "sam-venv" / "bin" / "sam"

Runner = Callable[[Sequence[str]], int]
ViewerInstaller = Callable[[], Path]


def add_parser(subparsers: Any) -> None:
    """Add ``deploy`` and ``destroy`` to the ``dicomlens`` command."""
    deploy = subparsers.add_parser("deploy", help="build and deploy the AWS stack, then the site")
    _common(deploy)
    deploy.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="the dicomlens source checkout to deploy (default: the current directory or the"
        " nearest parent with infra/template.yaml)",
    )
    deploy.add_argument(
        "--guided", action="store_true", help="ask for every parameter (sam deploy --guided)"
    )
    deploy.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter (repeatable), e.g. --parameter AlarmEmail=ops@example.org",
    )
    deploy.set_defaults(run=run_deploy)
    destroy = subparsers.add_parser("destroy", help="empty the buckets and delete the AWS stack")
    _common(destroy)
    destroy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    destroy.set_defaults(run=run_destroy)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", default="dev", help="deployment stage (default: dev)")
    parser.add_argument("--region", default=None, help="AWS region (default: the CLI's)")
    parser.add_argument("--sam", default=None, help="path of the sam executable")


def say(message: str, *, file: Any = None) -> None:
    """One line for the person running the command (stdout, or ``file``)."""
    print(message, file=file or sys.stdout)


def stack_name(stage: str) -> str:
    """The stack of ``stage``."""
    return f"dicomlens-{stage}"


def find_project_dir(explicit: Path | None, *, cwd: Path | None = None) -> Path:
    """The source checkout to deploy: ``explicit``, else ``cwd`` (default: the current
    directory) or its nearest parent holding ``infra/template.yaml``.

    Raises FileNotFoundError, with what to pass, when there is none.
    """
    if explicit is not None:
        if not (explicit / TEMPLATE).is_file():
            raise FileNotFoundError(
                f"--project-dir {explicit}: no {TEMPLATE} there; pass the dicomlens source checkout"
            )
        return explicit.resolve()
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / TEMPLATE).is_file():
            return folder
    raise FileNotFoundError(
        f"no {TEMPLATE} in {start} or its parents: run dicomlens deploy inside the dicomlens"
        " source checkout, or pass --project-dir DIR"
    )


def find_sam(explicit: str | None, *, project_dir: Path | None = None) -> str | None:
    """The sam executable: explicit path, PATH, or the project's tool venv."""
    if explicit:
        return explicit
    found = shutil.which("sam")
    if found:
        return found
    if project_dir is not None and (project_dir / SAM_VENV).is_file():
        return str(project_dir / SAM_VENV)
    return None


def samconfig_stage(config_file: Path, stage: str) -> tuple[bool, list[str]]:
    """Whether ``config_file`` (infra/samconfig.toml) has a section for ``stage``, and the
    template parameters its deploy settings give (``parameter_overrides``), as ``Key=Value``.
    """
    if not config_file.is_file():
        return False, []
    section = tomllib.loads(config_file.read_text()).get(stage)
    if not isinstance(section, dict):
        return False, []
    overrides = section.get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    if isinstance(overrides, str):
        overrides = shlex.split(overrides)
    return True, [str(item) for item in overrides]


def _merged_parameters(*groups: Sequence[str]) -> list[str]:
    """``Key=Value`` parameters, a later group's value winning for the same key."""
    merged: dict[str, str] = {}
    for group in groups:
        for item in group:
            key = item.split("=", 1)[0]
            merged.pop(key, None)
            merged[key] = item
    return list(merged.values())


def sam_commands(
    *,
    sam: str,
    stage: str,
    region: str | None,
    guided: bool,
    parameters: Sequence[str],
    template: Path = TEMPLATE,
) -> list[list[str]]:
    """The ``sam build`` (of ``template``) and ``sam deploy`` command lines for ``stage``.

    Both run in the template's folder. ``sam deploy`` is given the built template
    (``.aws-sam/build/template.yaml``, whose code and layer are the built ones) whatever
    samconfig.toml says. A stage with its own samconfig section (``[prod]``) is deployed
    with ``--config-env`` and that section's parameters, then ``Stage`` and ``parameters``
    (which win for the same key): a command-line ``--parameter-overrides`` replaces the
    config's list as a whole, so the section's values are passed again here.
    """
    region_args = ["--region", region] if region else []
    build = [sam, "build", "--template-file", str(template)]
    has_section, configured = samconfig_stage(template.parent / SAMCONFIG, stage)
    deploy = [
        sam,
        "deploy",
        "--template-file",
        str(BUILT_TEMPLATE),
        *(["--config-env", stage] if has_section else []),
        "--stack-name",
        stack_name(stage),
        "--capabilities",
        "CAPABILITY_IAM",
        "--resolve-s3",
        "--no-fail-on-empty-changeset",
        "--parameter-overrides",
        *_merged_parameters(configured, [f"Stage={stage}"], parameters),
        *region_args,
    ]
    if guided:
        deploy.append("--guided")
    else:
        deploy.append("--no-confirm-changeset")
    return [build, deploy]


def subprocess_runner(cwd: Path) -> Runner:
    """A runner that runs each command in ``cwd`` (sam keeps its build and config there)."""

    def run(command: Sequence[str]) -> int:
        return subprocess.run(list(command), cwd=cwd, check=False).returncode

    return run


def stack_outputs(cloudformation: Any, name: str) -> dict[str, str]:
    """The stack's outputs as ``{OutputKey: OutputValue}``."""
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}


def required_outputs(
    session: Any, *, command: str, stage: str, keys: Sequence[str]
) -> dict[str, str] | None:
    """The outputs of the ``stage`` stack when it has every one of ``keys``; otherwise None,
    after saying on stderr (``dicomlens <command>: stack ... has no output ...``) which
    it lacks."""
    name = stack_name(stage)
    outputs = stack_outputs(session.client("cloudformation"), name)
    missing = [key for key in keys if not outputs.get(key)]
    if missing:
        say(
            f"dicomlens {command}: stack {name} has no output {', '.join(missing)}", file=sys.stderr
        )
        return None
    return outputs


def _site_files(web_dir: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(web_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path.relative_to(web_dir).as_posix(), path


def sync_site(
    s3: Any, *, bucket: str, web_dir: Path, api_url: str, viewer_url: str | None = None
) -> list[str]:
    """Upload ``web_dir`` with a ``config.json`` that points at ``api_url`` (and names
    ``viewer_url``, the published viewer the page links studies to, when given); delete objects
    the site no longer has (the viewer's, under ``viewer/``, are left to
    :func:`dicomlens.cli.deploy_viewer.publish_viewer`). Returns the uploaded keys."""
    uploaded = []
    for key, path in _site_files(web_dir):
        if key == "config.json":
            continue
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        cache = "no-cache" if key.endswith(".html") else "public, max-age=300"
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=content_type,
            CacheControl=cache,
        )
        uploaded.append(key)
    settings = {"apiBaseUrl": api_url.rstrip("/")}
    if viewer_url:
        settings["viewerUrl"] = viewer_url
    config = json.dumps(settings).encode()
    s3.put_object(
        Bucket=bucket,
        Key="config.json",
        Body=config,
        ContentType="application/json",
        CacheControl="no-cache",
    )
    uploaded.append("config.json")
    keep = set(uploaded)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        stale = [
            {"Key": item["Key"]}
            for item in page.get("Contents", [])
            if item["Key"] not in keep and not item["Key"].startswith(VIEWER_PREFIX)
        ]
        if stale:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": stale, "Quiet": True})
    return uploaded


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker in ``bucket``; returns how many."""
    count = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        entries = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in (*page.get("Versions", []), *page.get("DeleteMarkers", []))
        ]
        for start in range(0, len(entries), 1000):  # DeleteObjects takes at most 1000 keys
            batch = entries[start : start + 1000]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            count += len(batch)
    return count


def stack_buckets(cloudformation: Any, name: str) -> list[str]:
    """The physical names of every S3 bucket the stack created."""
    buckets = []
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::S3::Bucket" and resource.get("PhysicalResourceId"):
                buckets.append(resource["PhysicalResourceId"])
    return buckets


def _session(region: str | None) -> Any:
    try:
        import boto3  # noqa: PLC0415 - the aws extra, needed only here
    except ModuleNotFoundError:
        say("dicomlens deploy needs boto3: pip install 'dicomlens[aws]'", file=sys.stderr)
        raise
    return boto3.session.Session(region_name=region)


def install_viewer() -> Path:
    """The pinned OHIF build, installed first if missing (as ``dicomlens viewer install``:
    DICOMLENS_VIEWER_DIR or ~/.cache/dicomlens/ohif, integrity-checked)."""
    return ohif.install(Settings().viewer_dir or ohif.default_cache_dir())


ViewerOutcome = Literal["published", "absent", "failed"]


def deploy_viewer(
    s3: Any, *, bucket: str, outputs: dict[str, str], install: ViewerInstaller
) -> ViewerOutcome:
    """Publish the viewer when the stack serves DICOMweb, else remove it; say what was done.
    ``failed`` when the build could not be installed (nothing of it is published)."""
    target = viewer_target(outputs)
    if not isinstance(target, ViewerTarget):
        removed = remove_viewer(s3, bucket=bucket)
        say(
            f"viewer: not published: {target}"
            + (f"; removed {len(removed)} old files" if removed else "")
        )
        return "absent"
    try:
        dist = install()
    except DicomlensError as exc:
        say(f"viewer: not published: {exc.message}", file=sys.stderr)
        return "failed"
    done = publish_viewer(s3, bucket=bucket, dist=dist, app_config=deployed_app_config(target))
    say(
        f"viewer: {len(done.uploaded)} files uploaded, {len(done.unchanged)} unchanged,"
        f" {len(done.deleted)} old ones deleted -> s3://{bucket}/{VIEWER_PREFIX}"
    )
    say(f"viewer sign-in: add {target.oidc.redirect_uri} to the app client's callback URLs")
    return "published"


def run_deploy(
    args: argparse.Namespace,
    *,
    runner: Runner | None = None,
    session: Any = None,
    viewer_installer: ViewerInstaller = install_viewer,
) -> int:
    """Build, deploy, publish the site and the viewer, invalidate CloudFront. Returns the
    exit code (1 when the viewer's build could not be installed: the site is published).

    ``runner`` runs each sam command (default: a subprocess in the template's folder).
    ``viewer_installer`` gives the prepared OHIF build (installing it if missing).
    """
    try:
        project_dir = find_project_dir(args.project_dir)
    except FileNotFoundError as exc:
        say(f"dicomlens deploy: {exc}", file=sys.stderr)
        return 2
    sam = find_sam(args.sam, project_dir=project_dir)
    if sam is None:
        say(
            "AWS SAM CLI not found: pip install aws-sam-cli (in its own venv) or pass --sam",
            file=sys.stderr,
        )
        return 2
    template = project_dir / TEMPLATE
    runner = runner or subprocess_runner(template.parent)
    for command in sam_commands(
        sam=sam,
        stage=args.stage,
        region=args.region,
        guided=args.guided,
        parameters=args.parameter,
        template=template,
    ):
        code = runner(command)
        if code != 0:
            say(f"failed ({code}): {' '.join(command[:2])}", file=sys.stderr)
            return code
    session = session or _session(args.region)
    outputs = stack_outputs(session.client("cloudformation"), stack_name(args.stage))
    s3 = session.client("s3")
    # The viewer first: the page's config.json links studies to it only once it is there
    viewer = deploy_viewer(
        s3, bucket=outputs["WebsiteBucketName"], outputs=outputs, install=viewer_installer
    )
    uploaded = sync_site(
        s3,
        bucket=outputs["WebsiteBucketName"],
        web_dir=project_dir / WEB_DIR,
        api_url=outputs["ApiUrl"],
        viewer_url="/" + VIEWER_PREFIX if viewer == "published" else None,
    )
    # "/*" covers the page and /viewer/* alike
    session.client("cloudfront").create_invalidation(
        DistributionId=outputs["DistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"dicomlens-{int(time.time())}",
        },
    )
    say(f"site: {len(uploaded)} files -> s3://{outputs['WebsiteBucketName']}")
    say(f"API:     {outputs['ApiUrl']}")
    say(f"website: {outputs['WebsiteUrl']}")
    return 1 if viewer == "failed" else 0


def run_destroy(args: argparse.Namespace, *, session: Any = None) -> int:
    """Empty every bucket of the stack, then delete it and wait. Returns the exit code."""
    name = stack_name(args.stage)
    if not args.yes:
        answer = input(f"Delete stack {name} and every object in its buckets? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 1
    session = session or _session(args.region)
    from botocore.exceptions import WaiterError  # noqa: PLC0415 - the aws extra

    cloudformation = session.client("cloudformation")
    s3 = session.client("s3")
    buckets = stack_buckets(cloudformation, name)
    # Access logs keep arriving for a few minutes after the last request, so a first delete
    # can find the log bucket refilled: empty again and retry.
    for attempt in range(3):
        for bucket in buckets:
            removed = empty_bucket(s3, bucket)
            say(f"emptied s3://{bucket} ({removed} versions)")
        cloudformation.delete_stack(StackName=name)
        try:
            cloudformation.get_waiter("stack_delete_complete").wait(StackName=name)
        except WaiterError:
            say(f"stack deletion attempt {attempt + 1} failed; retrying", file=sys.stderr)
            continue
        say(f"deleted stack {name}")
        return 0
    return 1
