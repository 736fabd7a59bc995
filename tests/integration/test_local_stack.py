"""The local stack as a user runs it: ``dicomlens serve`` in a subprocess, over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from local_server import create, job, post_form, running, start, upload, wait_all_finished
from pydicom.data import get_testdata_file

from dicomlens.viewer import ohif

CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
MR = Path(str(get_testdata_file("MR_small.dcm"))).read_bytes()


def uploaded_files(data_dir: Path) -> list[Path]:
    uploads = data_dir / "blobs" / "uploads"
    return [p for p in uploads.rglob("*") if p.is_file()] if uploads.exists() else []


def test_200_concurrent_uploads_all_complete(tmp_path: Path) -> None:
    with running(tmp_path / "data") as server:

        def one(index: int) -> str:
            with requests.Session() as session:
                return upload(session, server.url, f"scan {index}.dcm", CT if index % 2 else MR)

        with ThreadPoolExecutor(max_workers=32) as pool:
            job_ids = list(pool.map(one, range(200)))
        views = wait_all_finished(server.url, job_ids)
    assert len(set(job_ids)) == 200
    assert {v["status"] for v in views.values()} == {"COMPLETED"}
    assert all(v["attempts"] == 1 for v in views.values())
    assert "database is locked" not in "".join(server.output)


def test_a_job_read_with_wait_is_answered_once_the_job_has_ended(tmp_path: Path) -> None:
    """``GET /jobs/{jobId}?wait=s``: one request instead of polling, never held longer than
    asked, not held for an unknown job, and a wait out of range is refused."""
    with running(tmp_path / "data") as server, requests.Session() as session:
        job_id = upload(session, server.url, "scan.dcm", CT)
        started = time.monotonic()
        answer = session.get(f"{server.url}/jobs/{job_id}", params={"wait": "20"}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "COMPLETED"
        assert time.monotonic() - started < 15

        never_uploaded = create(session, server.url, "never.dcm", 10)["jobId"]
        started = time.monotonic()
        answer = session.get(f"{server.url}/jobs/{never_uploaded}", params={"wait": "0.6"})
        held = time.monotonic() - started
        assert answer.json()["status"] == "PENDING"
        assert 0.55 <= held < 5, held

        started = time.monotonic()
        unknown = session.get(f"{server.url}/jobs/{'0' * 32}", params={"wait": "20"}, timeout=30)
        assert unknown.status_code == 404
        assert time.monotonic() - started < 5

        for bad in ("21", "-1", "soon"):
            refused = session.get(f"{server.url}/jobs/{job_id}", params={"wait": bad}, timeout=30)
            assert refused.status_code == 400, (bad, refused.text)

        document = session.get(f"{server.url}/openapi.json", timeout=30).json()
        parameters = document["paths"]["/jobs/{jobId}"]["get"]["parameters"]
        (wait,) = [p for p in parameters if p["name"] == "wait"]
        assert wait["in"] == "query"
        assert wait["schema"]["maximum"] == 20


def completions(output: list[str]) -> dict[str, int]:
    """How many times each job was finished, from the processor's log lines."""
    counts: dict[str, int] = {}
    for line in output:
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("message") == "object processed" and record.get("outcome") in (
            "COMPLETED",
            "FAILED",
        ):
            counts[record["jobId"]] = counts.get(record["jobId"], 0) + 1
    return counts


def test_kill_9_mid_batch_then_restart_completes_every_job_exactly_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start(data, workers=2)
    with requests.Session() as session:
        job_ids = [upload(session, first.url, f"s{i}.dcm", CT) for i in range(40)]
        # Some jobs done, some in flight, most still queued: then the crash.
        while job(session, first.url, job_ids[5])["status"] != "COMPLETED":
            pass
    first.kill_hard()
    before_restart = list(first.output)

    with running(data) as second:
        views = wait_all_finished(second.url, job_ids)
        output = before_restart + second.output
    assert {v["status"] for v in views.values()} == {"COMPLETED"}
    counts = completions(output)
    assert max(counts.values()) == 1, "no job is finished twice"
    assert len(counts) >= len(job_ids) - 2, "at most the jobs cut mid-log are unaccounted"
    assert any(v["attempts"] >= 1 for v in views.values())


def test_sigterm_drains_and_a_restart_finishes_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start(data, env={"DICOMLENS_SHUTDOWN_GRACE_S": "20"})
    with requests.Session() as session:
        job_ids = [upload(session, server.url, f"s{i}.dcm", CT) for i in range(10)]
    assert server.stop(signal.SIGTERM) == 0
    assert "dicomlens stopped" in "".join(server.output)
    with running(data) as again:
        views = wait_all_finished(again.url, job_ids)
    assert {v["status"] for v in views.values()} == {"COMPLETED"}


def test_sigterm_to_the_whole_process_group_drains_instead_of_killing_workers(
    tmp_path: Path,
) -> None:
    # Given a server in a process group of its own, busy with uploads
    data = tmp_path / "data"
    server = start(data, env={"DICOMLENS_SHUTDOWN_GRACE_S": "20"}, own_process_group=True)
    with requests.Session() as session:
        # (its workers past their start-up: the warm-up jobs are done)
        wait_all_finished(
            server.url, [upload(session, server.url, f"w{i}.dcm", CT) for i in range(4)]
        )
        job_ids = [upload(session, server.url, f"s{i}.dcm", CT) for i in range(20)]
    # When every process of the group gets SIGTERM at once (systemd stopping the service)
    os.killpg(server.process.pid, signal.SIGTERM)
    # Then the server drains and exits cleanly, no worker died mid-job or was replaced
    assert server.process.wait(60) == 0
    output = "".join(server.output)
    assert "dicomlens stopped" in output
    assert "worker exited" not in output
    assert "HTTP process exited" not in output
    # and a restart finishes the rest, each job in one attempt (none was cut short)
    with running(data) as again:
        views = wait_all_finished(again.url, job_ids)
    assert {v["status"] for v in views.values()} == {"COMPLETED"}
    assert {v["attempts"] for v in views.values()} == {1}


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    with running(tmp_path / "data"), pytest.raises(RuntimeError, match="another dicomlens"):
        start(tmp_path / "data")


def test_refused_uploads_store_nothing(tmp_path: Path) -> None:
    # Expiry is checked with a fake clock in tests/unit/test_local_runtime.py
    # (test_an_expired_form_is_refused): a real server would need a real sleep here.
    with running(tmp_path / "data") as server:
        session = requests.Session()
        # Oversize: more bytes than declared.
        grant = create(session, server.url, "a.dcm", 100)
        assert post_form(session, grant, b"x" * 101).status_code == 413
        # Wrong key: another job's form fields with this job's policy.
        other = create(session, server.url, "b.dcm", 100)
        fields = {**grant["upload"]["fields"], "key": other["upload"]["fields"]["key"]}
        assert post_form(session, grant, b"x" * 10, fields).status_code == 403
        # Tampered: a policy signed for another key.
        fields = {**grant["upload"]["fields"], "policy": other["upload"]["fields"]["policy"]}
        assert post_form(session, grant, b"x" * 10, fields).status_code == 403
        # Path traversal in the name stays inside the job's folder.
        sneaky = create(session, server.url, "../../../../etc/cron.d/x", 10)
        assert sneaky["upload"]["fields"]["key"] == f"uploads/{sneaky['jobId']}/x"
        assert uploaded_files(server.data_dir) == []
        assert job(session, server.url, grant["jobId"])["status"] == "PENDING"


def test_the_page_config_samples_and_signed_links_are_served(tmp_path: Path) -> None:
    with running(tmp_path / "data") as server, requests.Session() as session:
        # the page links studies to the viewer when its build is installed (DICOMweb is on
        # locally by default)
        expected: dict[str, str] = {"apiBaseUrl": server.url}
        if ohif.installed(ohif.default_cache_dir()) is not None:
            expected["viewerUrl"] = "/viewer/"
        assert session.get(f"{server.url}/config.json").json() == expected
        index = session.get(f"{server.url}/samples/index.json").json()["samples"]
        assert "CT_small.dcm" in [s["name"] for s in index]
        sample = session.get(f"{server.url}/samples/CT_small.dcm")
        assert sample.content == CT
        assert session.get(f"{server.url}/samples/..%2F..%2Fsecret.key").status_code == 404
        job_id = upload(session, server.url, "ct.dcm", CT)
        (view,) = wait_all_finished(server.url, [job_id]).values()
        preview = session.get(view["urls"]["preview"])
        assert preview.headers["content-type"] == "image/png"
        original = session.get(view["urls"]["original"])
        assert original.content == CT
        assert "attachment" in original.headers["content-disposition"]
        assert "phi" not in view["result"]
        assert session.get(f"{server.url}/").status_code == 200


def _serving_children(server_pid: int, port: int) -> set[int]:
    """The server's child processes that hold its listening socket: its extra HTTP
    processes (the workers do not)."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                listening.add(f"socket:[{cols[9]}]")
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    found = set()
    for child in map(int, children):
        try:
            # a child between fork and exec (a worker being started) still holds every file
            # of the server: only a started process (multiprocessing's spawn) counts
            if b"multiprocessing" not in Path(f"/proc/{child}/cmdline").read_bytes():
                continue
            links = {str(fd.readlink()) for fd in Path(f"/proc/{child}/fd").iterdir()}
        except OSError:
            continue
        if links & listening:
            found.add(child)
    return found


def test_a_killed_http_process_is_replaced_and_the_server_keeps_serving(tmp_path: Path) -> None:
    with running(tmp_path / "data", env={"DICOMLENS_HTTP_PROCESSES": "2"}) as server:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        deadline = time.monotonic() + 30
        while not (before := _serving_children(server.process.pid, port)):
            assert time.monotonic() < deadline, "no extra HTTP process found"
            time.sleep(0.1)
        # When the extra HTTP process dies (an out-of-memory kill, a crash in C code)
        (killed,) = before
        os.kill(killed, signal.SIGKILL)
        # Then another takes its place, and uploads keep completing meanwhile and after
        with requests.Session() as session:
            job_ids = [upload(session, server.url, "during.dcm", CT)]
            while not (after := _serving_children(server.process.pid, port) - {killed}):
                assert time.monotonic() < deadline + 30, "the HTTP process was not replaced"
                time.sleep(0.1)
            job_ids += [upload(session, server.url, f"after{i}.dcm", CT) for i in range(4)]
        jobs = wait_all_finished(server.url, job_ids)
        assert {view["status"] for view in jobs.values()} == {"COMPLETED"}
        assert len(after) == 1
    assert any("an HTTP process exited" in line for line in server.output)


def test_workers_that_die_at_every_start_are_restarted_with_a_back_off(tmp_path: Path) -> None:
    # Given an install where every worker and extra HTTP process dies as it starts (a library
    # that crashes on load, memory too short): a sitecustomize that ends spawned children
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys\nif '--multiprocessing-fork' in sys.argv:\n    os._exit(3)\n"
    )
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))
    env = {"PYTHONPATH": path, "DICOMLENS_HTTP_PROCESSES": "2"}
    # The server still takes uploads (they wait in the durable queue)
    with running(tmp_path / "data", env=env, workers=2) as server, requests.Session() as session:
        job_id = upload(session, server.url, "waits.dcm", CT)
        time.sleep(6)
        assert job(session, server.url, job_id)["status"] == "PENDING"
    deaths = [line for line in server.output if "worker exited (code 3)" in line]
    http_deaths = [line for line in server.output if "an HTTP process exited (code 3)" in line]
    # Then restarts slow down (0, 1, 2 s ... per slot) instead of one per check (every
    # 0.25 s per worker, 0.5 s per HTTP process: over 50 in 6 s), and the log says so
    assert 2 <= len(deaths) <= 16, deaths
    assert 1 <= len(http_deaths) <= 8, http_deaths
    assert any("in a row died soon after starting" in line for line in deaths)
    assert any('"level":"ERROR"' in line for line in deaths)
    # And once the install is mended, the upload that waited is processed
    with running(tmp_path / "data") as server:
        assert wait_all_finished(server.url, [job_id])[job_id]["status"] == "COMPLETED"
