"""The template passes the tools AWS users run on it: cfn-lint, ``sam validate --lint``,
checkov (no failed check; each skip justified in the template), and ``sam build`` offline
with the processor's code plus layer under Lambda's 250 MB unzipped limit.

Each tool lives in its own virtual environment (.ci/run makes them under .ci/tools/):
aws-sam-cli and checkov pin versions of boto3, click and packaging that conflict with each
other and with the app. Override a path with DICOMLENS_SAM, DICOMLENS_CHECKOV,
DICOMLENS_CFN_LINT, DICOMLENS_PYTHON312. Locally a missing tool skips; under CI=true it fails.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import boto3
import pytest
import requests
from lambda_flow import Packaged, run_flow
from packaging.requirements import Requirement
from stack_on_moto import create_stack, translate

from dicomlens.local.routes import load_template

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TEMPLATE = INFRA / "template.yaml"
TOOLS = ROOT / ".ci" / "tools"
MiB = 1024 * 1024
LAMBDA_UNZIPPED_LIMIT = 250 * MiB
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_tool(reason: str) -> None:
    """Skip locally, fail in CI (the same rule as tests/conftest.py's require_tool)."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def find_tool(name: str, env: str, venv_path: Path) -> str:
    """The tool from ``env``, its own venv under .ci/tools, or PATH (skip / fail in CI)."""
    for candidate in (os.environ.get(env), str(venv_path)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found is None:
        missing_tool(f"{name}: set {env}, or run .ci/run to install it under .ci/tools/")
        raise AssertionError("unreachable")
    return found


def python312_dir() -> str:
    """A directory holding a working ``python3.12`` (``sam build`` for python3.12 needs it)."""
    explicit = os.environ.get("DICOMLENS_PYTHON312")
    candidates = [Path(explicit)] if explicit else []
    candidates += sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"), reverse=True)
    which = shutil.which("python3.12")
    if which:
        candidates.insert(0, Path(which))
    for candidate in candidates:
        probe = subprocess.run(
            [str(candidate), "-V"], capture_output=True, text=True, check=False, timeout=30
        )
        if probe.returncode == 0:
            return str(candidate.parent)
    missing_tool("python3.12 (set DICOMLENS_PYTHON312)")
    raise AssertionError("unreachable")


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SAM_CLI_TELEMETRY"] = "0"
    env.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    return env


def run(
    command: list[str], *, timeout: float, cwd: Path = INFRA, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env or tool_env(),
    )


def test_cfn_lint_is_clean() -> None:
    cfn_lint = find_tool("cfn-lint", "DICOMLENS_CFN_LINT", TOOLS / "sam-venv" / "bin" / "cfn-lint")
    result = run([cfn_lint, str(TEMPLATE)], timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_is_clean() -> None:
    sam = find_tool("sam", "DICOMLENS_SAM", TOOLS / "sam-venv" / "bin" / "sam")
    result = run(
        [sam, "validate", "--lint", "--region", "eu-west-1", "-t", str(TEMPLATE)], timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_checkov_has_no_failed_check_and_every_skip_is_justified() -> None:
    checkov = find_tool("checkov", "DICOMLENS_CHECKOV", TOOLS / "checkov-venv" / "bin" / "checkov")
    result = run(
        [
            checkov,
            "-f",
            str(TEMPLATE),
            "--framework",
            "cloudformation",
            "--skip-download",
            "-o",
            "json",
            "--quiet",
        ],
        timeout=300,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 50  # it really scanned the resources
    justified = load_template(TEMPLATE)["Metadata"]["dicomlens"]["checkovSkips"]
    verbose = run(
        [
            checkov,
            "-f",
            str(TEMPLATE),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--compact",
        ],
        timeout=300,
    )
    skipped = set()
    check = ""
    for line in verbose.stdout.splitlines():
        if line.startswith("Check: "):
            check = line.split(":")[1].strip()
        elif "SKIPPED for resource" in line:
            skipped.add(check)
    # every skip checkov applied is justified in the template, and no justification is stale
    assert skipped == set(justified)


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


@pytest.fixture(scope="module")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project (infra/ and src/) built as ``dicomlens deploy`` builds it:
    ``sam build --template-file infra/template.yaml`` run in infra/, so the output is in
    infra/.aws-sam/build, where ``sam deploy`` looks for it. Returns the copy's infra/."""
    sam = find_tool("sam", "DICOMLENS_SAM", TOOLS / "sam-venv" / "bin" / "sam")
    project = tmp_path_factory.mktemp("project")
    ignore = shutil.ignore_patterns(".aws-sam", "__pycache__", "*.pyc")
    shutil.copytree(INFRA, project / "infra", ignore=ignore)
    shutil.copytree(ROOT / "src", project / "src", ignore=ignore)
    infra = project / "infra"
    env = tool_env()
    env["PATH"] = python312_dir() + os.pathsep + env["PATH"]
    result = run(
        [sam, "build", "--template-file", str(infra / "template.yaml")],
        timeout=1200,
        cwd=infra,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return infra


def test_sam_build_offline_and_processor_fits_lambda_limit(built_project: Path) -> None:
    build_dir = built_project / ".aws-sam" / "build"
    code = _tree_bytes(build_dir / "ProcessImageFunction")
    layer = _tree_bytes(build_dir / "DicomLibsLayer")
    print(
        f"\nprocessor code {code / MiB:.1f} MiB + layer {layer / MiB:.1f} MiB "
        f"= {(code + layer) / MiB:.1f} MiB unzipped (Lambda's limit: 250 MiB)"
    )
    assert code + layer < LAMBDA_UNZIPPED_LIMIT
    layer_python = build_dir / "DicomLibsLayer" / "python"
    for package in LAYER_PACKAGES:
        assert (layer_python / package).is_dir(), package
    assert list(layer_python.glob("_libjpeg*.so")), "pylibjpeg-libjpeg's extension"
    assert list(layer_python.glob("_openjpeg*.so")), "pylibjpeg-openjpeg's extension"
    assert (
        build_dir / "ProcessImageFunction" / "dicomlens" / "handlers" / "process_image.py"
    ).is_file()


LAYER_PACKAGES = ("pydicom", "numpy", "PIL", "pylibjpeg", "pydantic", "aws_lambda_powertools")
# What the Lambda python3.12 runtime ships: boto3 and its dependencies, as distributions and
# as the top-level modules they install. The layer holds none of them: /opt/python comes first
# on sys.path, so a copy there would shadow the runtime's (unpinned, and without .pyc).
RUNTIME_DISTRIBUTIONS = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _runtime_modules_in(names: Iterable[str]) -> list[str]:
    """The entries of ``names`` (paths under the layer's python/) that belong to the runtime."""
    found = []
    for name in names:
        top = name.split("/")[0]
        module = top.split("-")[0].removesuffix(".py")
        if module in RUNTIME_MODULES or module.removeprefix("python_") in RUNTIME_MODULES:
            found.append(name)
    return sorted(set(found))


def test_the_built_layer_is_exactly_the_pinned_lock_and_needs_nothing_else(
    built_project: Path,
) -> None:
    layer_python = built_project / ".aws-sam" / "build" / "DicomLibsLayer" / "python"
    # No boto3, botocore, urllib3, s3transfer ... (modules or distributions)
    assert _runtime_modules_in(p.name for p in layer_python.iterdir()) == []
    # Every requirement of infra/layer/requirements.txt is an exact pin, and the layer holds
    # exactly those distributions at those versions (pip ran with --no-deps)
    pins = {}
    for line in (INFRA / "layer" / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, separator, version = line.strip().partition("==")
            assert separator and version, f"not pinned with ==: {line}"
            pins[_canonical(name)] = version
    shipped = {
        _canonical(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions(path=[str(layer_python)])
    }
    assert shipped == pins
    # And that lock is complete: whatever a shipped distribution requires (on Linux, Python
    # 3.12, no extra) is in the layer at an accepted version, or is the runtime's
    environment = {"python_version": "3.12", "sys_platform": "linux", "extra": ""}
    environment |= {"platform_system": "Linux", "platform_machine": "x86_64"}
    for dist in importlib.metadata.distributions(path=[str(layer_python)]):
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            name = _canonical(requirement.name)
            if name in RUNTIME_DISTRIBUTIONS:
                continue
            assert name in shipped, f"{dist.metadata['Name']} needs {text}: not in the layer"
            assert requirement.specifier.contains(shipped[name], prereleases=True), text
    # Precompiled for python3.12 (Lambda cannot write .pyc in /opt), valid whatever the file
    # times: unchecked-hash .pyc files (PEP 552 flags 0b01)
    pyc = layer_python / "pydantic" / "__pycache__" / "main.cpython-312.pyc"
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 1


# The boto3 the Lambda Python 3.12 runtime provides is not in the layer; this version stands
# for it (the aws extra's lower bound): the handlers must import with it and nothing else.
LAMBDA_RUNTIME_BOTO3 = "boto3==1.35.99"
ARTIFACTS_BUCKET = "dicomlens-artifacts"


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local moto server holding an empty artifacts bucket; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=30)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(
        Bucket=ARTIFACTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    try:
        yield endpoint
    finally:
        server.stop()


def _s3_uri(value: object) -> tuple[str, str]:
    assert isinstance(value, str) and value.startswith("s3://"), value
    bucket, key = value[len("s3://") :].split("/", 1)
    return bucket, key


def test_the_packaged_layer_and_code_import_in_a_lambda_like_python(
    built_project: Path, moto_s3: str, tmp_path: Path
) -> None:
    # Given the built project, when `sam package` runs in infra/ with no template named (as
    # a hand-run `sam deploy` does: samconfig.toml decides which template it packages) and
    # uploads to a local S3
    sam = find_tool("sam", "DICOMLENS_SAM", TOOLS / "sam-venv" / "bin" / "sam")
    env = {**tool_env(), "AWS_ENDPOINT_URL": moto_s3, "AWS_DEFAULT_REGION": "eu-west-1"}
    packaged_file = tmp_path / "packaged.yaml"
    result = run(
        [
            sam,
            "package",
            "--s3-bucket",
            ARTIFACTS_BUCKET,
            "--output-template-file",
            str(packaged_file),
        ],
        timeout=600,
        cwd=built_project,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    packaged = load_template(packaged_file)["Resources"]
    s3 = boto3.client("s3", endpoint_url=moto_s3)

    def fetch(uri: object, into: Path) -> list[str]:
        bucket, key = _s3_uri(uri)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            archive.extractall(into)
            return archive.namelist()

    # Then the layer that was uploaded is the built one, extracted as Lambda does (/opt)
    opt = tmp_path / "opt"
    names = fetch(packaged["DicomLibsLayer"]["Properties"]["ContentUri"], opt)
    for package in LAYER_PACKAGES:
        assert f"python/{package}/__init__.py" in names, f"{package} missing from the layer"
    # And it carries nothing the runtime ships (boto3, botocore, urllib3, s3transfer ...)
    in_python = [name.removeprefix("python/") for name in names if name.startswith("python/")]
    assert _runtime_modules_in(in_python) == []
    # And every function's code is ours
    handlers = {}
    for name, resource in packaged.items():
        if resource["Type"] == "AWS::Serverless::Function":
            task = tmp_path / "task" / name
            fetch(resource["Properties"]["CodeUri"], task)
            handlers[name] = (task, resource["Properties"]["Handler"])
    functions = {
        name
        for name, resource in load_template(TEMPLATE)["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert set(handlers) == functions  # the API functions, the processor and the sweeper
    assert len(handlers) == 6, sorted(handlers)
    # And in a clean Python 3.12 holding only the runtime's boto3, each handler imports
    venv = tmp_path / "lambda-python"
    python312 = Path(python312_dir()) / "python3.12"
    assert run([str(python312), "-m", "venv", str(venv)], timeout=300).returncode == 0
    pip = run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", LAMBDA_RUNTIME_BOTO3],
        timeout=600,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    for name, (task, handler) in handlers.items():
        module, function = handler.rsplit(".", 1)
        probe = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                f"import importlib; assert callable(getattr(importlib.import_module({module!r}),"
                f" {function!r}))",
            ],
            cwd=task,
            env={
                "PATH": os.environ["PATH"],
                "PYTHONPATH": f"{task}{os.pathsep}{opt / 'python'}",
                "PYTHONDONTWRITEBYTECODE": "1",
                "AWS_REGION": "eu-west-1",
                "AWS_DEFAULT_REGION": "eu-west-1",
                "AWS_LAMBDA_FUNCTION_NAME": name,
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert probe.returncode == 0, f"{name}: {probe.stderr[-3000:]}"
    # And the analysis report (highdicom and its codec wheels, imported only on request) is
    # built and written with the layer as packaged, by the function that serves it
    task, _handler = handlers["DicomWebFunction"]
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", _REPORT_PROBE],
        cwd=task,
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": f"{task}{os.pathsep}{opt / 'python'}",
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.split() == ["1.2.840.10008.5.1.4.1.1.88.34", "SR", "1"], probe.stdout
    # And CloudFormation creates the stack from the packaged template (SAM's transform, then
    # CreateStack on moto with stand-ins for the types it lacks): every resource, and each
    # function from the code and layer as uploaded
    template = translate(packaged_file, Path(sam).with_name("python"))
    stack = create_stack(template, moto_s3, name="dicomlens-dev", parameters={"Stage": "dev"})
    declared = template["Resources"]
    unconditional = {name for name, resource in declared.items() if "Condition" not in resource}
    assert unconditional <= set(stack.resources), sorted(unconditional - set(stack.resources))
    assert set(stack.functions) == functions
    (layer,) = [name for name, r in declared.items() if r["Type"] == "AWS::Lambda::LayerVersion"]
    layer_uri = packaged["DicomLibsLayer"]["Properties"]["ContentUri"]
    content = declared[layer]["Properties"]["Content"]
    assert f"s3://{content['S3Bucket']}/{content['S3Key']}" == layer_uri
    for name, configuration in stack.functions.items():
        assert configuration["Runtime"] == "python3.12", name
        # moto's CloudFormation drops a function's Layers: checked on what it was given
        assert declared[name]["Properties"]["Layers"] == [{"Ref": layer}], name
    assert {"ApiUrl", "WebsiteUrl", "UploadBucketName", "TableName"} <= set(stack.outputs)
    # And, invoked one cold process at a time with the events AWS sends and the environment
    # the stack gave each function, the functions carry an upload through the stack's own
    # bucket, queue, table and secret: create, the browser's POST, the queue's message to
    # the processor, results, de-identification, the sweeper
    packaged_functions = Packaged(
        python=venv / "bin" / "python", opt=opt, handlers=handlers, work=tmp_path
    )
    seen = run_flow(packaged_functions, moto_s3, stack=stack)
    assert seen["job"]["result"]["summary"]["modality"] == "CT"


_REPORT_PROBE = """
import io, datetime
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from dicomlens.domain.results import AnalysisResult, Box, Finding, ImageSummary
from dicomlens.reports.builder import build_report, report_uids

ds = Dataset()
ds.file_meta = FileMetaDataset()
ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = (generate_uid() for _ in "abc")
ds.Modality, ds.PatientID, ds.PatientName = "CT", "P1", "TEST^PROBE"
ds.Rows = ds.Columns = 16
ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
ds.PixelData = np.zeros((16, 16), np.uint16).tobytes()
result = AnalysisResult(
    kind="dicom",
    has_image=True,
    summary=ImageSummary(modality="CT"),
    findings=(
        Finding(kind="burned-in-text", message="text",
                boxes=(Box(left=0.1, top=0.1, width=0.5, height=0.2),)),
    ),
)
sr = build_report(ds, result, uids=report_uids("probe"),
                  content_time=datetime.datetime(2026, 1, 1))
out = io.BytesIO()
sr.save_as(out, enforce_file_format=True)
assert out.getvalue()[128:132] == b"DICM"
print(sr.SOPClassUID, sr.Modality, int(len(sr.ContentSequence) > 0))
"""


_TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template = yaml_parse(open(sys.argv[1]).read())
# the transform wants S3 code locations (what `sam deploy` uploads); the rest is unchanged
template["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"
template["Resources"]["DicomLibsLayer"]["Properties"]["ContentUri"] = "s3://bucket/layer.zip"


class NoManagedPolicies:
    def load(self):
        return {}


print(json.dumps(transform(template, {}, NoManagedPolicies())))
"""


def test_sam_transform_keeps_the_optional_jwt_on_every_route_but_openapi() -> None:
    sam = find_tool("sam", "DICOMLENS_SAM", TOOLS / "sam-venv" / "bin" / "sam")
    python = Path(sam).with_name("python")
    result = run([str(python), "-c", _TRANSLATE, str(TEMPLATE)], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    body = json.loads(result.stdout)["Resources"]["HttpApi"]["Properties"]["Body"]
    conditional = {"Fn::If": ["UseJwtAuth", [{"CognitoJwt": []}], {"Ref": "AWS::NoValue"}]}
    routes = 0
    for path, operations in body["paths"].items():
        for operation in operations.values():
            assert "x-amazon-apigateway-integration" in operation, path
            routes += 1
            expected = None if path == "/openapi.json" else conditional
            assert operation.get("security") == expected, path
    assert routes >= 3
    authorizer = body["components"]["Fn::If"][1]["securitySchemes"]["CognitoJwt"]
    assert authorizer["x-amazon-apigateway-authorizer"]["type"] == "jwt"
