"""``dicomlens serve`` as other local users and other sites see it: a private data
directory, no answer for foreign Host names, a token off loopback, slow sockets closed, and
log lines that belong to their own request."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
from local_server import FAST_ENV, running, upload, wait_all_finished
from pydicom.data import get_testdata_file

CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_the_data_dir_and_every_file_in_it_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)  # an existing directory from an older version
    (data / "old.txt").write_text("x")
    (data / "old.txt").chmod(0o644)
    with running(data, env={"DICOMLENS_BODY_IDLE_TIMEOUT_S": "2"}) as server:
        with requests.Session() as session:
            job_id = upload(session, server.url, "scan.dcm", CT)
            wait_all_finished(server.url, [job_id])
        found = modes(data)
    assert {"jobs.sqlite3", "jobs.sqlite3-wal", "queue.sqlite3", "secret.key"} <= set(found)
    assert any(name.startswith("blobs/uploads/") and name.endswith("scan.dcm") for name in found)
    assert any(name.startswith("blobs/derived/") for name in found)
    wrong = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (data / name).is_dir() else 0o600)
    }
    assert wrong == {}


def test_foreign_host_names_get_no_answer_but_the_page_works(tmp_path: Path) -> None:
    with running(tmp_path / "data") as server:
        port = urlsplit(server.url).port
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}"):
            refused = requests.get(f"{server.url}/config.json", headers={"Host": host}, timeout=10)
            assert refused.status_code == 421
            assert refused.json()["error"]["code"] == "HOST_NOT_ALLOWED"
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
            page = requests.get(f"{server.url}/", headers={"Host": host}, timeout=10)
            assert page.status_code == 200


def test_slow_sockets_are_closed(tmp_path: Path) -> None:
    env = {"DICOMLENS_HEADER_TIMEOUT_S": "1", "DICOMLENS_BODY_IDLE_TIMEOUT_S": "1"}
    with running(tmp_path / "data", env=env) as server:
        where = urlsplit(server.url)
        address = (where.hostname or "127.0.0.1", where.port or 80)
        slow = []
        for _ in range(50):
            conn = socket.create_connection(address)
            conn.sendall(b"GET / HTTP/1.1\r\nHost: " + where.netloc.encode() + b"\r\n")
            slow.append(conn)
        started = time.monotonic()
        for conn in slow:
            conn.settimeout(10)
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            assert data.startswith(b"HTTP/1.1 408")
            conn.close()
        assert time.monotonic() - started < 8


def test_a_client_leaving_mid_upload_is_one_warning_line(tmp_path: Path) -> None:
    with running(tmp_path / "data") as server, requests.Session() as session:
        grant = session.post(
            f"{server.url}/uploads",
            json={"fileName": "a.dcm", "contentType": "application/dicom", "size": 100_000},
            timeout=10,
        ).json()
        where = urlsplit(server.url)
        with socket.create_connection((where.hostname or "", where.port or 80)) as conn:
            conn.sendall(
                b"POST /_upload HTTP/1.1\r\nHost: " + where.netloc.encode() + b"\r\n"
                b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 200000\r\n\r\n"
            )
            for name, value in grant["upload"]["fields"].items():
                head = f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                conn.sendall(f"{head}{value}\r\n".encode())
            conn.sendall(
                b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n' + b"x" * 1000
            )
            time.sleep(0.5)
        time.sleep(1.0)
        output = "".join(server.output)
    assert "Traceback" not in output
    assert "Exception in ASGI application" not in output
    warnings = [line for line in output.splitlines() if "disconnected" in line]
    assert len(warnings) == 1
    record = json.loads(warnings[0])
    assert record["service"] == "dicomlens-local-server"
    assert "jobId" not in record
    assert "function_request_id" not in record


def test_a_non_loopback_host_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DICOMLENS_API_TOKEN"}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "dicomlens.cli", "serve"),
            *("--host", "0.0.0.0", "--port", "0"),  # noqa: S104 - refused before binding
            *("--data-dir", str(tmp_path / "data")),
        ],
        capture_output=True,
        text=True,
        env={**env, **FAST_ENV},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DICOMLENS_API_TOKEN" in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_configured_token_is_required_by_the_api_and_uploads(tmp_path: Path) -> None:
    token = "integration-" + "k" * 32
    with running(tmp_path / "data", env={"DICOMLENS_API_TOKEN": token}) as server:
        body = {"fileName": "a.dcm", "contentType": "application/dicom", "size": len(CT)}
        refused = requests.post(f"{server.url}/uploads", json=body, timeout=10)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "UNAUTHORIZED"
        config = requests.get(f"{server.url}/config.json", timeout=10)
        assert config.json()["apiTokenRequired"] is True
        assert token not in config.text
        assert requests.get(f"{server.url}/", timeout=10).status_code == 200
        auth = {"Authorization": f"Bearer {token}"}
        grant = requests.post(f"{server.url}/uploads", json=body, headers=auth, timeout=10)
        assert grant.status_code == 201
        form = grant.json()["upload"]
        files = {"file": ("a.dcm", CT, "application/dicom")}
        assert (
            requests.post(form["url"], data=form["fields"], files=files, timeout=10).status_code
            == 401
        )
        stored = requests.post(
            form["url"], data=form["fields"], files=files, headers=auth, timeout=10
        )
        assert stored.status_code == 204
        job = requests.get(f"{server.url}/jobs/{grant.json()['jobId']}", headers=auth, timeout=10)
        assert job.status_code == 200
