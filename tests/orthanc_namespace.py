"""Orthanc as a peer, inside its own network namespace: shared by the benches and the tests.

Orthanc has no bind-address setting (it listens on every interface), so it only ever runs
inside ``unshare -n``: a script re-runs itself under ``unshare -n`` (``run_unshared``),
brings the namespace's loopback up, starts Orthanc with a throw-away configuration
(``orthanc_in_this_namespace``) and prints its result as one JSON line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

ORTHANC_PORT = 8042
PLUGIN_DIR = Path("/usr/share/orthanc/plugins")
DICOMWEB_PLUGIN = PLUGIN_DIR / "libOrthancDicomWeb.so"
GDCM_PLUGIN = PLUGIN_DIR / "libOrthancGdcm.so"
NAMESPACE_TOOLS = ("Orthanc", "unshare", "ip")


def missing_namespace_tools(*, plugins: Sequence[Path] = ()) -> list[str]:
    """The programs (on PATH) and Orthanc plugins an Orthanc run needs that are missing."""
    missing = [tool for tool in NAMESPACE_TOOLS if shutil.which(tool) is None]
    return missing + [str(plugin) for plugin in plugins if not plugin.exists()]


def loopback_up() -> None:
    """Bring up ``lo`` in this (fresh) network namespace; without it nothing connects."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


@contextmanager
def orthanc_in_this_namespace(
    *,
    plugins: Sequence[Path] = (),
    settings: Mapping[str, Any] | None = None,
    threads: int = 50,
) -> Iterator[str]:
    """Start Orthanc (inside ``unshare -n``) with a throw-away store; yield its base URL.

    ``plugins`` are shared objects to load; ``settings`` are merged over the minimal
    configuration (no DICOM port, no remote access, no authentication). Orthanc is stopped
    and its store deleted when the block ends.
    """
    loopback_up()
    work = Path(tempfile.mkdtemp(prefix="orthanc-"))
    config: dict[str, Any] = {
        "Name": "peer",
        "StorageDirectory": str(work / "db"),
        "IndexDirectory": str(work / "db"),
        "HttpPort": ORTHANC_PORT,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpThreadsCount": threads,
        "Plugins": [str(plugin) for plugin in plugins],
        **(settings or {}),
    }
    (work / "orthanc.json").write_text(json.dumps(config))
    with (work / "orthanc.log").open("w") as log:
        orthanc = subprocess.Popen(
            ["Orthanc", str(work / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{ORTHANC_PORT}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/system", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline or orthanc.poll() is not None:
                    tail = (work / "orthanc.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"Orthanc did not start:\n{tail}") from None
                time.sleep(0.2)
        yield base
    finally:
        if orthanc.poll() is not None:  # it died under us: say why
            tail = (work / "orthanc.log").read_text(errors="replace")[-3000:]
            print(f"Orthanc exited with {orthanc.returncode}:\n{tail}", file=sys.stderr)
        orthanc.terminate()
        try:
            orthanc.wait(30)
        except subprocess.TimeoutExpired:
            orthanc.kill()
            orthanc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def run_unshared(
    script: str | Path, arguments: Sequence[str], *, timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    """Run ``python script arguments`` under ``unshare -n`` (this interpreter, this
    environment); its completed process, whatever its exit code."""
    return subprocess.run(
        ["unshare", "-n", sys.executable, str(script), *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def last_json_line(stdout: str) -> Any:
    """The JSON value printed on the last line of ``stdout``."""
    return json.loads(stdout.strip().splitlines()[-1])


def run_in_own_network(script: str | Path, arguments: list[str]) -> dict[str, Any] | None:
    """Run ``script`` under ``unshare -n`` and return the JSON of its last line, or None
    when Orthanc or unshare is missing or the run failed (its stderr is shown)."""
    if missing_namespace_tools():
        return None
    done = run_unshared(script, arguments)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    result: dict[str, Any] = last_json_line(done.stdout)
    return result
