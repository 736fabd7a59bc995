"""The wheel as a user gets it: built from this checkout, installed into a clean virtual
environment, run from a folder outside the repository.

``dicomlens serve`` needs the web page and the SAM template, ``dicomlens analyze`` the
classifier model: all of them must come out of the installed package, not the checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from corpus.generate import planar_rgb

ROOT = Path(__file__).resolve().parents[2]
# Building, installing and two CLI runs; the install downloads the dependencies.
pytestmark = pytest.mark.timeout(900)


@dataclass(frozen=True)
class Installed:
    """A clean virtual environment holding the wheel, and a folder outside the checkout."""

    bin: Path
    outside: Path

    def env(self, **extra: str) -> dict[str, str]:
        """This process's environment without anything that would find the checkout."""
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
            and not name.startswith("DICOMLENS_")
        }
        return {**env, "PATH": f"{self.bin}{os.pathsep}{env.get('PATH', '')}", **extra}


def _run(command: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, **kwargs
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def _checkout_files() -> Iterator[Path]:
    """The checkout as a clone plus uncommitted work would have it (no venv, caches, builds)."""
    listed = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # a tracked file deleted in the work tree is gone
            yield Path(name)


def _onnxruntime_requirement() -> str:
    """onnxruntime as the ``analyzers`` extra pins it: what the classifier needs to run."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    return next(spec for spec in extras["analyzers"] if spec.startswith("onnxruntime"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """``pip wheel`` of a copy of the checkout, installed with its dependencies into a venv.

    Only onnxruntime is added from the optional analyzers (the classifier proves the model
    shipped); the other analyzers' packages are large and the model-free analyzers are
    tested elsewhere.
    """
    work = tmp_path_factory.mktemp("wheel")
    assert not work.is_relative_to(ROOT)
    # Build from a copy: an in-tree build would leave build/ and egg-info in the checkout.
    source = work / "source"
    for name in _checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, source])
    (wheel,) = dist.glob("dicomlens-*.whl")

    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv])
    bin_dir = venv / "bin"
    outside = work / "outside"
    outside.mkdir()
    installed = Installed(bin=bin_dir, outside=outside)
    _run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", wheel, _onnxruntime_requirement()],
        env=installed.env(),
        cwd=outside,
    )
    return installed


def test_the_package_data_comes_from_the_installed_wheel(installed: Installed) -> None:
    probe = (
        "import json, dicomlens.assets as a; print(json.dumps([str(p) for p in "
        "(a.web_root() / 'index.html', a.sam_template(), a.imagenet_model(), "
        "a.imagenet_labels())]))"
    )
    result = _run(
        [installed.bin / "python", "-c", probe], env=installed.env(), cwd=installed.outside
    )
    site = installed.bin.parent / "lib"
    for path in map(Path, json.loads(result.stdout)):
        assert path.is_file(), path
        assert path.is_relative_to(site), path


def test_analyze_writes_a_preview_and_json_with_the_packaged_classifier(
    installed: Installed,
) -> None:
    # Given a colour secondary capture (the classifier skips grayscale medical images)
    scan = installed.outside / "photo.dcm"
    scan.write_bytes(planar_rgb())
    # When the installed command analyses it with the classifier alone, every score shown
    result = _run(
        [installed.bin / "dicomlens", "analyze", "--out", "results", "--workers", "1", scan.name],
        env=installed.env(
            DICOMLENS_ANALYZERS="classifier", DICOMLENS_CLASSIFIER_MIN_CONFIDENCE="0"
        ),
        cwd=installed.outside,
    )
    # Then a PNG preview and a JSON result come out, with the model's labels in it
    out = installed.outside / "results"
    assert (out / "photo.dcm.preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", result.stdout
    record = json.loads((out / "photo.dcm.json").read_text())
    assert record["status"] == "ok"
    findings = record["result"]["findings"]
    assert not [f for f in findings if f["kind"] == "analyzer-failed"], findings
    assert [label for label in record["result"]["labels"] if label["source"] == "classifier"]


def _serve(installed: Installed, data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """Start the installed ``dicomlens serve`` on any free port; the process and its URL."""
    process = subprocess.Popen(
        [
            str(installed.bin / "dicomlens"),
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--workers",
            "1",
            "--http-processes",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=installed.outside,
        env=installed.env(DICOMLENS_ANALYZERS="", PYTHONUNBUFFERED="1"),
    )
    assert process.stdout is not None
    output = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output.append(line)
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            return process, found.group(1)
    process.kill()
    raise AssertionError("dicomlens serve did not start:\n" + "".join(output))


def test_serve_gives_the_page_and_creates_upload_jobs(installed: Installed) -> None:
    process, url = _serve(installed, installed.outside / "data")
    try:
        with requests.Session() as session:
            # The web page from the packaged web/
            page = session.get(f"{url}/", timeout=30)
            assert page.status_code == 200
            assert "<html" in page.text.lower()
            # The API routes from the packaged SAM template
            created = session.post(
                f"{url}/uploads",
                json={"fileName": "scan.dcm", "contentType": "application/dicom", "size": 1000},
                timeout=30,
            )
            assert created.status_code == 201, created.text
            job_id = created.json()["jobId"]
            job = session.get(f"{url}/jobs/{job_id}", timeout=30)
            assert job.status_code == 200, job.text
            assert job.json()["status"] == "PENDING"
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
