"""The API handlers' cold start: importing one loads no imaging stack and no analyzer.

A Lambda function imports its handler module on every cold start, so whatever that import
pulls in is paid before the first request. Uploads, results and the de-identification
request need none of numpy, pydicom, Pillow or the offline analyzers (the processor and the
de-identification work load them on first use). Each import runs in a fresh interpreter:
in this one, other tests have loaded everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

API_HANDLERS = (
    "dicomlens.handlers.create_upload",
    "dicomlens.handlers.get_results",
    "dicomlens.handlers.deidentify",
    "dicomlens.handlers.sweep_jobs",  # scheduled, but as light as the API functions
)
HEAVY_PACKAGES = ("numpy", "pydicom", "PIL", "onnxruntime", "cv2", "rapidocr_onnxruntime")
ANALYZERS = "dicomlens.analysis.analyzers."
# Analyzer options: dataclasses and pydantic models that Settings validates at start-up.
LIGHT_ANALYZER_MODULES = frozenset({f"{ANALYZERS}spec"})


def modules_loaded_by_importing(module: str) -> set[str]:
    """Every module in ``sys.modules`` after a fresh interpreter imports ``module``."""
    probe = (
        "import importlib, json, sys; "
        f"importlib.import_module({module!r}); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return set(loaded)


@pytest.mark.parametrize("handler", API_HANDLERS)
def test_importing_an_api_handler_loads_no_imaging_stack_or_analyzer(handler: str) -> None:
    loaded = modules_loaded_by_importing(handler)

    assert handler in loaded
    heavy = sorted(name for name in loaded if name.split(".")[0] in HEAVY_PACKAGES)
    assert heavy == [], f"{handler} imports {heavy[:10]}"
    analyzers = sorted(
        name for name in loaded if name.startswith(ANALYZERS) and name not in LIGHT_ANALYZER_MODULES
    )
    assert analyzers == [], f"{handler} imports {analyzers}"
