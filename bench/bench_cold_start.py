"""Cold start of the Lambda functions, as built by ``sam build``, beside seed-style handlers.

Runnable on its own: ``python bench/bench_cold_start.py [--build-dir infra/.aws-sam/build]``;
``sam`` from DICOMLENS_SAM, .ci/tools/sam-venv or PATH, python3.12 from DICOMLENS_PYTHON312,
PATH or pyenv (as in tests/integration/test_template_tools.py).

What it does (a Lambda-like harness that works offline; no Docker, no AWS):

1. ``sam build`` of a copy of infra/ and src/ (or ``--build-dir``: a build to reuse).
2. A clean python3.12 venv holding only the boto3 the Lambda runtime ships
   (``boto3==1.35.99`` stands for it).
3. The built layer and each function's code, zipped and unzipped as ``sam package`` and Lambda
   do: the layer as ``/opt``-like (``opt/python`` on the path), the code as the task root.
   The seed-style baseline handlers (bench/seed_baseline/) get a task root of their own and
   the same layer.
4. A local moto server with the upload bucket and the job table.
5. Per function, 5 clean processes (``PYTHONDONTWRITEBYTECODE=1``, the function's environment
   with Tracing: Active's variables): each imports the handler (init) and answers one realistic
   first request (create_upload: the HTTP API event; get_results: an unknown job; process_image
   and the seed processImage: an S3 event for a missing object; the seed upload-URL: a POST).
   Best of 5 of init + first request, and its ratio to the seed baseline.

Two more baselines give the floor: the same seed handlers after the libraries the project's
standards mandate in every function (Powertools Logger, Metrics and Tracer patching botocore,
one pydantic-settings class, one pydantic model; bench/seed_baseline/mandated_libraries.py).
Each of ours is also shown as a ratio to its floor: what is above it is dicomlens' own.

Interpreter start-up is not counted (the same for every function). Prints a table; asserts
nothing. Goals: create_upload and get_results <= 1.5x the seed upload-URL function,
process_image <= 1.2x the seed processImage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SEED_DIR = Path(__file__).resolve().parent / "seed_baseline"
EVENTS = ROOT / "tests" / "events"
LAMBDA_RUNTIME_BOTO3 = "boto3==1.35.99"
REGION = "eu-west-1"
BUCKET = "dicomlens-bench-uploads"
TABLE = "dicomlens-bench-jobs"
UNKNOWN_JOB = "0123456789abcdef0123456789abcdef"
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

# The child: init (import the handler module), then one invocation; times in ms as JSON.
PROBE = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import importlib, sys
module_name, function_name, event_file = sys.argv[1:4]
entry = getattr(importlib.import_module(module_name), function_name)
t1, c1 = time.perf_counter(), time.process_time()
import json
with open(event_file) as f:
    event = json.load(f)

class Context:
    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
    memory_limit_in_mb = 1024
    aws_request_id = "6f9ef9b8-bench-request"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 30000

context = Context()
t2, c2 = time.perf_counter(), time.process_time()
answer = entry(event, context)
t3, c3 = time.perf_counter(), time.process_time()
figures = {"init": (t1 - t0) * 1e3, "first": (t3 - t2) * 1e3,
           "cpu": (c1 - c0 + c3 - c2) * 1e3, "answer": str(answer)[:300]}
print("\\nPROBE " + json.dumps(figures))
"""


@dataclass(frozen=True)
class Function:
    label: str
    task: str  # task-root directory name under <work>/task
    handler: str
    event: str  # file name under <work>/events
    baseline: str | None  # label of the seed function it is compared with


FUNCTIONS = (
    Function("seed upload-URL", "SeedUpload", "seed_upload_url.handler", "create_upload", None),
    Function("seed processImage", "SeedProcess", "seed_process_image.handler", "s3_missing", None),
    # the floor: the seed after the libraries the standards mandate (seed_baseline/README.md)
    Function(
        "seed upload-URL+libs",
        "SeedUploadFloor",
        "seed_floor_upload_url.handler",
        "create_upload",
        "seed upload-URL",
    ),
    Function(
        "seed process+libs",
        "SeedProcessFloor",
        "seed_floor_process_image.handler",
        "s3_missing",
        "seed processImage",
    ),
    Function(
        "create_upload",
        "CreateUploadFunction",
        "dicomlens.handlers.create_upload.handler",
        "create_upload",
        "seed upload-URL",
    ),
    Function(
        "get_results",
        "GetResultsFunction",
        "dicomlens.handlers.get_results.handler",
        "get_job",
        "seed upload-URL",
    ),
    Function(
        "process_image",
        "ProcessImageFunction",
        "dicomlens.handlers.process_image.handler",
        "s3_missing",
        "seed processImage",
    ),
)


def sam_path() -> str:
    for candidate in (
        os.environ.get("DICOMLENS_SAM"),
        str(ROOT / ".ci" / "tools" / "sam-venv" / "bin" / "sam"),
        shutil.which("sam"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("sam not found: set DICOMLENS_SAM")


def python312() -> Path:
    explicit = os.environ.get("DICOMLENS_PYTHON312")
    candidates = [Path(explicit)] if explicit else []
    which = shutil.which("python3.12")
    if which:
        candidates.append(Path(which))
    candidates += sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"), reverse=True)
    for candidate in candidates:  # a pyenv shim may exist and still not run
        probe = subprocess.run([str(candidate), "-V"], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    raise SystemExit("python3.12 not found: set DICOMLENS_PYTHON312")


def sam_build(work: Path) -> Path:
    """``sam build`` of a copy of infra/ and src/ (as ``dicomlens deploy`` builds)."""
    ignore = shutil.ignore_patterns(".aws-sam", "__pycache__", "*.pyc")
    shutil.copytree(ROOT / "infra", work / "project" / "infra", ignore=ignore)
    shutil.copytree(ROOT / "src", work / "project" / "src", ignore=ignore)
    infra = work / "project" / "infra"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    env["PATH"] = f"{python312().parent}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        [sam_path(), "build", "--template-file", str(infra / "template.yaml")],
        cwd=infra,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if result.returncode != 0:
        raise SystemExit(result.stdout[-3000:] + result.stderr[-3000:])
    return infra / ".aws-sam" / "build"


def lambda_venv(work: Path) -> Path:
    """A clean python3.12 venv with only the runtime's boto3; its python."""
    venv = work / "lambda-python"
    subprocess.run([str(python312()), "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", LAMBDA_RUNTIME_BOTO3],
        check=True,
        timeout=600,
        capture_output=True,
    )
    return python


def zip_round_trip(source: Path, into: Path) -> None:
    """``source`` zipped (as ``sam package`` uploads it) and unzipped into ``into``."""
    archive = into.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                out.write(path, path.relative_to(source).as_posix())
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(into)
    archive.unlink()


def lay_out(build: Path, work: Path) -> tuple[Path, Path]:
    """The layer as ``opt`` and each task root under ``task``; returns (opt, task)."""
    opt, task = work / "opt", work / "task"
    opt.mkdir()
    task.mkdir()
    zip_round_trip(build / "DicomLibsLayer", opt)
    for function in FUNCTIONS:
        if function.task.startswith("Seed"):
            root = task / function.task
            root.mkdir()
            for source in SEED_DIR.glob("*.py"):  # a floor handler imports its seed
                shutil.copy2(source, root)
        else:
            zip_round_trip(build / function.task, task / function.task)
    return opt, task


def write_events(work: Path) -> Path:
    events = work / "events"
    events.mkdir()
    create = json.loads((EVENTS / "http_api_create_upload.json").read_text())
    (events / "create_upload.json").write_text(json.dumps(create))
    get_job = json.loads((EVENTS / "http_api_get_job.json").read_text())
    (events / "get_job.json").write_text(json.dumps(get_job))
    s3 = json.loads((EVENTS / "s3_object_created.json").read_text())
    s3["Records"][0]["s3"]["bucket"]["name"] = BUCKET
    s3["Records"][0]["s3"]["object"]["key"] = f"uploads/{UNKNOWN_JOB}/CT%2Bsmall.dcm"
    (events / "s3_missing.json").write_text(json.dumps(s3))
    return events


def moto_server() -> tuple[Any, str]:
    """A local moto server with the upload bucket and the job table; (server, endpoint)."""
    import logging  # noqa: PLC0415

    import boto3  # noqa: PLC0415 - the benchmark's own environment, not the Lambda one
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **keys)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION, **keys)
    dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return server, endpoint


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Sub, !Ref ...) read as None."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template_variables(build: Path) -> dict[str, str]:
    """The literal environment variables the built template gives every function (those
    computed by CloudFormation, resource names and the like, are set by the harness)."""
    template = yaml.load((build / "template.yaml").read_text(), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    return {name: value for name, value in variables.items() if isinstance(value, str)}


def function_env(function: Function, task: Path, opt: Path, endpoint: str) -> dict[str, str]:
    """What Lambda sets (python3.12, Tracing: Active) plus the template's variables."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": f"{task}{os.pathsep}{opt / 'python'}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(task),
        "_HANDLER": function.handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": function.task,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "_X_AMZN_TRACE_ID": TRACE_ID,
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        # the seed's client (it names no endpoint) and ours (which do) reach the moto server
        "AWS_ENDPOINT_URL": endpoint,
        "BUCKET_NAME": BUCKET,
        "DICOMLENS_MODE": "aws",
        "DICOMLENS_BUCKET_NAME": BUCKET,
        "DICOMLENS_TABLE_NAME": TABLE,
        "DICOMLENS_SITE_ORIGIN": "https://example.cloudfront.net",
        "DICOMLENS_MAX_UPLOAD_BYTES": "536870912",
        "DICOMLENS_REKOGNITION": "true",
        "DICOMLENS_S3_ENDPOINT_URL": endpoint,
        "DICOMLENS_DYNAMODB_ENDPOINT_URL": endpoint,
    }


@dataclass(frozen=True)
class Harness:
    python: Path  # the Lambda-like python3.12
    opt: Path  # the layer, unzipped
    task: Path  # the task roots, one per function
    events: Path
    endpoint: str  # the moto server
    variables: dict[str, str]  # the template's literal environment variables


def measure(harness: Harness, function: Function) -> dict[str, Any]:
    """One clean process: init and first request (ms) and the answer."""
    root = harness.task / function.task
    module, entry = function.handler.rsplit(".", 1)
    event = harness.events / f"{function.event}.json"
    result = subprocess.run(
        [str(harness.python), "-s", "-c", PROBE, module, entry, str(event)],
        cwd=root,
        env={**harness.variables, **function_env(function, root, harness.opt, harness.endpoint)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    if result.returncode != 0 or not lines:
        failure = result.stdout[-2000:] + result.stderr[-3000:]
        raise SystemExit(f"{function.label} failed:\n{failure}")
    figures: dict[str, Any] = json.loads(lines[-1][len("PROBE ") :])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, help="reuse this .aws-sam/build")
    parser.add_argument("--runs", type=int, default=5, help="clean processes per function")
    parser.add_argument("--show-answers", action="store_true", help="print each first answer")
    parser.add_argument(
        "--keep",
        type=Path,
        help="lay the harness out in this (new) directory and keep it, to study one function "
        "by hand (python -X importtime with the printed environment)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicomlens-coldstart-") as tmp:
        work = Path(tmp)
        if args.keep:
            work = args.keep.resolve()
            work.mkdir(parents=True)
        build = args.build_dir.resolve() if args.build_dir else sam_build(work)
        python = lambda_venv(work)
        opt, task = lay_out(build, work)
        events = write_events(work)
        server, endpoint = moto_server()
        harness = Harness(python, opt, task, events, endpoint, template_variables(build))
        try:
            best: dict[str, dict[str, Any]] = {}
            least_cpu: dict[str, float] = {}
            for run in range(args.runs):
                for function in FUNCTIONS:  # interleaved: drift hits every function alike
                    figures = measure(harness, function)
                    figures["total"] = figures["init"] + figures["first"]
                    if run == 0 and args.show_answers:
                        print(f"{function.label}: {figures['answer']}")
                    kept = best.get(function.label)
                    if kept is None or figures["total"] < kept["total"]:
                        best[function.label] = figures
                    cpu = least_cpu.get(function.label, figures["cpu"])
                    least_cpu[function.label] = min(cpu, figures["cpu"])
        finally:
            server.stop()
    print_table(best, least_cpu, args.runs)


GOALS = {"create_upload": 1.5, "get_results": 1.5, "process_image": 1.2}
FLOORS = {"seed upload-URL": "seed upload-URL+libs", "seed processImage": "seed process+libs"}


def print_table(best: dict[str, dict[str, Any]], least_cpu: dict[str, float], runs: int) -> None:
    print(
        f"cold start = init (import) + first request, best of {runs} clean processes "
        "(wall clock; cpu = the least CPU time of the process over the runs, steadier on a "
        "shared machine), python3.12 + boto3 1.35.99, layer as /opt/python, "
        "PYTHONDONTWRITEBYTECODE=1"
    )
    print(
        f"{'function':<21}{'init ms':>8}{'first ms':>9}{'total ms':>9}{'ratio':>7}"
        f"{'cpu ms':>8}{'cpu ratio':>10}  goal (on the wall-clock ratio)"
    )
    for function in FUNCTIONS:
        figures = best[function.label]
        cpu = least_cpu[function.label]
        if function.baseline is None:
            ratio, cpu_ratio, goal = "", "", "(baseline)"
        else:
            value = figures["total"] / best[function.baseline]["total"]
            ratio = f"{value:.2f}x"
            cpu_ratio = f"{cpu / least_cpu[function.baseline]:.2f}x"
            limit = GOALS.get(function.label)
            if limit is None:
                goal = "(floor: the mandated libraries alone)"
            else:
                verdict = "met" if value <= limit else "MISSED"
                floor = best[FLOORS[function.baseline]]["total"]
                goal = (
                    f"<= {limit}x {function.baseline}: {verdict}; "
                    f"{figures['total'] / floor:.2f}x the floor"
                )
        print(
            f"{function.label:<21}{figures['init']:>8.0f}{figures['first']:>9.0f}"
            f"{figures['total']:>9.0f}{ratio:>7}{cpu:>8.0f}{cpu_ratio:>10}  {goal}"
        )


if __name__ == "__main__":
    main()
