"""Every Lambda function builds its services during init, and turns the collector back on.

Lambda runs init (the import of the handler module) on a full vCPU; :mod:`dicomlens.handlers`
stops the garbage collector for it and :func:`dicomlens.bootstrap.build_during_lambda_init`,
called last by each handler module, builds what the function's requests use and turns the
collector on again. A handler module that forgets the call pays the wiring on its first
request and runs with the collector off for the life of the process (processImage did, after
a merge). Given each function of ``infra/template.yaml``, a fresh interpreter with the AWS
mode's settings and Lambda's ``_HANDLER`` imports its handler module; then the services are
built (with the function's own service), the collector is on and nothing was logged as not
built. Building makes no AWS call (clients only), so no AWS is needed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
HANDLERS = sorted(
    set(re.findall(r"Handler: (dicomlens\.handlers\.\w+)\.handler", TEMPLATE.read_text()))
)
# The services attribute each function's requests use, built during its init.
BUILT_AT_INIT = {
    "dicomlens.handlers.process_image": "processor",
    "dicomlens.handlers.sweep_jobs": "sweeper",
    "dicomlens.handlers.deidentify": "deidentification",
    "dicomlens.handlers.dicomweb": "dicomweb",
}
AWS_MODE = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "DICOMLENS_MODE": "aws",
    "DICOMLENS_BUCKET_NAME": "dicomlens-test-uploads",
    "DICOMLENS_TABLE_NAME": "dicomlens-test-ImageAnalysisResults",
    "DICOMLENS_SITE_ORIGIN": "https://example.cloudfront.net",
    "DICOMLENS_DICOMWEB": "true",
    "DICOMLENS_INSTANCE_TABLE_NAME": "dicomlens-test-instances",
    "DICOMLENS_DEID_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:deid",
}
PROBE = """
import gc, importlib, json, sys
importlib.import_module(sys.argv[1])
from dicomlens import bootstrap
services = bootstrap._current
print(json.dumps({
    "built": services is not None,
    "attributes": sorted(vars(services)) if services is not None else [],
    "gc": gc.isenabled(),
}))
"""


def test_the_template_names_every_handler_module() -> None:
    assert len(HANDLERS) >= 6, HANDLERS
    assert set(BUILT_AT_INIT) <= set(HANDLERS)


@pytest.mark.parametrize("module", HANDLERS)
def test_a_lambda_function_builds_its_services_during_init(module: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DICOMLENS_", "AWS_"))},
        **AWS_MODE,
        "_HANDLER": f"{module}.handler",
        "AWS_LAMBDA_FUNCTION_NAME": module.rsplit(".", 1)[1],
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["built"], f"{module} built no services during init"
    assert state["gc"], f"{module} left the garbage collector off after init"
    assert "not built during init" not in done.stdout + done.stderr, done.stdout + done.stderr
    wanted = BUILT_AT_INIT.get(module)
    if wanted is not None:
        assert wanted in state["attributes"], (module, state["attributes"])
