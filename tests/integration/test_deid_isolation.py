"""De-identification runs outside the HTTP server's process, under a hard time limit.

One ``dicomlens serve`` (one HTTP process, so the server's pid is the one answering) with a
de-identification time limit of a few seconds: a heavy multi-frame file whose OCR of every
frame takes far longer is stopped with the stable error, the server's RSS stays flat while
it runs, and the next request is served.
"""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from local_server import Server, running, start, upload, wait_all_finished
from pydicom.data import get_testdata_file

from corpus.generate import SECONDARY_CAPTURE, new_dataset, to_bytes

DEID_LIMIT_S = 5.0
CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()


def _heavy_multiframe(frames: int = 60, side: int = 512) -> bytes:
    """``frames`` 16-bit frames with a little texture: decoding them all takes ~30 MB and
    searching each for burned-in text takes far longer than ``DEID_LIMIT_S``."""
    ds = new_dataset(SECONDARY_CAPTURE, 901, "OT")
    rng = np.random.default_rng(9)
    pixels = rng.integers(0, 4096, (frames, side, side), dtype=np.uint16)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = side
    ds.NumberOfFrames = frames
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    buffer = io.BytesIO(pixels.astype("<u2").tobytes())
    ds.PixelData = buffer.getvalue()
    return to_bytes(ds)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "DICOMLENS_HTTP_PROCESSES": "1",
        "DICOMLENS_DEID_TIME_LIMIT_S": str(DEID_LIMIT_S),
        "DICOMLENS_DEID_PIXEL_TEXT": "required",
    }
    with running(tmp_path_factory.mktemp("deid-isolation") / "data", env=env) as started:
        yield started


@pytest.fixture(scope="module")
def jobs(server: Server) -> dict[str, str]:
    with requests.Session() as session:
        ids = {
            "heavy": upload(session, server.url, "heavy.dcm", _heavy_multiframe()),
            "ct": upload(session, server.url, "ct.dcm", CT),
        }
    views = wait_all_finished(server.url, list(ids.values()), timeout=90)
    assert {view["status"] for view in views.values()} == {"COMPLETED"}, views
    # The first request starts the worker (and loads the OCR models) before it is timed.
    first = requests.post(f"{server.url}/jobs/{ids['ct']}/deidentify", timeout=120)
    assert first.status_code == 201, first.text
    return ids


def test_a_heavy_deidentification_leaves_the_server_rss_flat_and_stops_at_the_limit(
    server: Server, jobs: dict[str, str]
) -> None:
    # Given a server at rest after processing the uploads
    pid = server.process.pid
    before = _rss_mb(pid)
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_mb(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # When the heavy file is de-identified
    started = time.monotonic()
    response = requests.post(f"{server.url}/jobs/{jobs['heavy']}/deidentify", timeout=60)
    took = time.monotonic() - started
    done.set()
    sampler.join()
    # Then it is stopped at the limit with the stable error body, not a raw 500
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "PROCESSING_TIMEOUT"
    assert f"over {DEID_LIMIT_S:g} s" in response.json()["error"]["message"]
    assert took < DEID_LIMIT_S + 5
    # And the server's own memory never grew with the decoding (the worker's did)
    assert peak - before < 40, f"server RSS {before:.0f} MB -> peak {peak:.0f} MB"
    assert _rss_mb(pid) - before < 40


def test_after_a_timeout_the_next_deidentification_is_served(
    server: Server, jobs: dict[str, str]
) -> None:
    # Given a request that ran out of time (its worker was killed and replaced)
    stopped = requests.post(f"{server.url}/jobs/{jobs['heavy']}/deidentify", timeout=60)
    assert stopped.status_code == 422
    # When another job is de-identified, then the fresh worker serves it
    response = requests.post(f"{server.url}/jobs/{jobs['ct']}/deidentify", timeout=60)
    assert response.status_code == 201, response.text
    assert response.json()["url"]
    # And API routes never waited on the worker
    assert requests.get(f"{server.url}/jobs/{jobs['ct']}", timeout=10).status_code == 200


def test_every_http_process_serves_deidentification(tmp_path: Path) -> None:
    # Given a server with three HTTP processes on one socket (each starts its own
    # de-identification workers on first use)
    env = {"DICOMLENS_HTTP_PROCESSES": "3", "DICOMLENS_DEID_PIXEL_TEXT": "off"}
    with running(tmp_path / "data", env=env) as started:
        with requests.Session() as session:
            job_id = upload(session, started.url, "ct.dcm", CT)
        views = wait_all_finished(started.url, [job_id], timeout=60)
        assert views[job_id]["status"] == "COMPLETED", views
        # When many clients de-identify at once, each on its own connection (the kernel
        # hands connections to whichever process accepts first)
        url = f"{started.url}/jobs/{job_id}/deidentify"
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(lambda _: requests.post(url, timeout=120), range(18)))
    # Then every one is served, whichever process took it
    assert [a.status_code for a in answers] == [201] * len(answers), [a.text for a in answers]


def test_a_sigterm_to_the_process_group_lets_a_running_deidentification_finish(
    tmp_path: Path,
) -> None:
    # Given a server in a process group of its own (as a service manager runs it), whose
    # de-identification worker is up and busy with a file of a dozen frames
    env = {
        "DICOMLENS_HTTP_PROCESSES": "1",
        "DICOMLENS_DEID_PIXEL_TEXT": "required",
        "DICOMLENS_SHUTDOWN_GRACE_S": "30",
    }
    server = start(tmp_path / "data", env=env, own_process_group=True)
    try:
        with requests.Session() as session:
            ids = [
                upload(session, server.url, "ct.dcm", CT),
                upload(session, server.url, "frames.dcm", _heavy_multiframe(frames=12)),
            ]
        views = wait_all_finished(server.url, ids, timeout=90)
        assert {view["status"] for view in views.values()} == {"COMPLETED"}, views
        warm = requests.post(f"{server.url}/jobs/{ids[0]}/deidentify", timeout=120)
        assert warm.status_code == 201, warm.text
        answers: list[requests.Response] = []
        call = threading.Thread(
            target=lambda: answers.append(
                requests.post(f"{server.url}/jobs/{ids[1]}/deidentify", timeout=120)
            )
        )
        call.start()
        time.sleep(0.5)
        # When every process of the group gets SIGTERM (systemd stopping the service)
        os.killpg(server.process.pid, signal.SIGTERM)
        call.join(120)
        # Then the running call is answered in full while the server drains, and it exits 0
        assert [answer.status_code for answer in answers] == [201], answers[0].text
        assert server.process.wait(60) == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()


def test_a_deidentification_worker_that_dies_at_start_gives_503_then_recovers(
    tmp_path: Path,
) -> None:
    # Given a server whose de-identification worker dies as it starts (a library that
    # crashes on load), once a flag file exists: the event workers started before it
    flag = tmp_path / "crash-new-workers"
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys\n"
        f"if '--multiprocessing-fork' in sys.argv and os.path.exists({str(flag)!r}):\n"
        "    os._exit(3)\n"
    )
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))
    env = {"PYTHONPATH": path, "DICOMLENS_HTTP_PROCESSES": "1"}
    with running(tmp_path / "data", env=env) as server, requests.Session() as session:
        job_id = upload(session, server.url, "ct.dcm", CT)
        assert wait_all_finished(server.url, [job_id])[job_id]["status"] == "COMPLETED"
        flag.touch()
        # When a de-identification is asked for, then another
        started = time.monotonic()
        first = session.post(f"{server.url}/jobs/{job_id}/deidentify", timeout=150)
        waited = time.monotonic() - started
        second = session.post(f"{server.url}/jobs/{job_id}/deidentify", timeout=150)
        # Then both get the stable 503 at once (not SERVER_BUSY after a 120 s wait)
        for answer in (first, second):
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert waited < 30
        # And once the install is mended, the next restart (after its back-off) serves
        flag.unlink()
        deadline = time.monotonic() + 90
        while True:
            answer = session.post(f"{server.url}/jobs/{job_id}/deidentify", timeout=150)
            if answer.status_code != 503:
                break
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.5)
        assert answer.status_code == 201, answer.text
    starts = [line for line in server.output if "died while starting (code 3)" in line]
    assert 2 <= len(starts) <= 6, starts
    assert any("in a row died soon after starting" in line for line in starts)
