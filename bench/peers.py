"""What the benchmarks share: distinct CT instances, and Orthanc as the peer to compare with.

Orthanc has no bind-address setting (it listens on every interface), so it only ever runs
inside its own network namespace: a benchmark re-runs itself under ``unshare -n`` with an
``--orthanc-inner`` argument, brings the namespace's loopback up, and prints its figures as
one JSON line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import data_store  # pydicom-data
import requests
from pydicom import dcmread
from pydicom.uid import generate_uid

CT_SLICE = Path(data_store.__file__).parent / "data" / "693_UNCI.dcm"
ORTHANC_PORT = 8042


def make_ct_instances(count: int, out_dir: Path) -> list[Path]:
    """``count`` distinct 512x512 CT instances: one slice with fresh SOP Instance UIDs."""
    ds = dcmread(CT_SLICE)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.InstanceNumber = index + 1
        path = out_dir / f"ct_{index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


@contextmanager
def orthanc_in_this_namespace() -> Iterator[str]:
    """Start Orthanc (inside ``unshare -n``) with a throw-away store; yield its base URL."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    work = Path(tempfile.mkdtemp(prefix="orthanc-"))
    config = {
        "Name": "bench",
        "StorageDirectory": str(work / "db"),
        "IndexDirectory": str(work / "db"),
        "HttpPort": ORTHANC_PORT,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpThreadsCount": 50,
        "Plugins": [],
    }
    (work / "orthanc.json").write_text(json.dumps(config))
    orthanc = subprocess.Popen(
        ["Orthanc", str(work / "orthanc.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{ORTHANC_PORT}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/system", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        orthanc.terminate()
        orthanc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def run_in_own_network(script: str, arguments: list[str]) -> dict[str, float] | None:
    """Run ``script`` under ``unshare -n`` and return the JSON of its last line, or None
    when Orthanc or unshare is missing or the run failed (its stderr is shown)."""
    if shutil.which("Orthanc") is None or shutil.which("unshare") is None:
        return None
    done = subprocess.run(
        ["unshare", "-n", sys.executable, script, *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
