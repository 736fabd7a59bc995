"""Fault injection: workers and the whole server killed with SIGKILL during a batch of uploads.

Given ``dicomlens serve`` with two process workers and ``decode_timeout_s`` = 2 s (a job
limit of 7 s), two warm-up jobs, then a batch of 36 uploads (generated 1024 and 2048 square
CTs, pydicom's CT and MR) posted from a thread in two halves, with a fixed seed:

- during the first half, one worker is SIGKILLed at a random moment, then the whole server
  is SIGKILLed (while uploads are still being posted) and restarted on the same data dir;
- during the second half, a worker is SIGKILLed at random moments (one running a job when
  there is one), at least three times and then until a job is seen retried (at most
  ``MAX_SECOND_HALF_KILLS`` kills; uploads go on until the kills are done): at least one
  kill must have interrupted a job, or nothing was tested. Jobs take a few tenths of a
  second, so a kill of a worker seen busy can still land between two jobs; killing until a
  retry is seen keeps the test from depending on that luck;

then every accepted upload (a 2xx answer to the form post) ends COMPLETED or FAILED exactly
once (never two finishes in the processor's log, no SUPERSEDED attempt, and the stored
attempts need no more retries than the kills explain), and no job is seen PROCESSING for
longer than the job limit + 8 s (jobs are polled every 0.2 s from the first form post on; the
8 s cover polling, the restart and a machine shared with other work). The posts and kills
take about 20 s (more when the kills go on until a retry); the test then waits at most 40 s
for jobs to finish.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from bomb_run import create_upload, normal_ct, post_file
from local_server import start
from process_tree import age_s, cpu_ticks, wait_for_workers
from pydicom.data import get_testdata_file

SEED = 11
UPLOADS_PER_HALF = 18
DECODE_TIMEOUT_S = 2.0
JOB_LIMIT_S = DECODE_TIMEOUT_S + 5.0  # the pool's JOB_GRACE_S
SLACK_S = 8.0
FINISH_WAIT_S = 40.0
STARTUP_S = 4.0  # a new worker imports the imaging stack first
ENV = {"DICOMLENS_DECODE_TIMEOUT_S": str(DECODE_TIMEOUT_S)}
# Large CTs make jobs long enough (a few tenths of a second) and the queue deep enough for
# kills at random moments to land inside jobs.
FILES = (
    ("ct2048.dcm", normal_ct(2048)),
    ("ct1024.dcm", normal_ct(1024)),
    ("ct_small.dcm", Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()),
    ("ct2048b.dcm", normal_ct(2048)),
    ("mr_small.dcm", Path(str(get_testdata_file("MR_small.dcm"))).read_bytes()),
)
POST_GAP_S = (0.2, 0.4)  # between two uploads: each half spans about 5 s, the kills' window
TERMINAL = ("COMPLETED", "FAILED")
SECOND_HALF_KILLS = 3
MAX_SECOND_HALF_KILLS = 10


@dataclass
class Track:
    """What polling saw of one job: statuses over time and its spans in PROCESSING."""

    job_id: str
    status: str = "PENDING"
    attempts: int = 0
    code: str | None = None
    processing_since: float | None = None
    processing_spans: list[float] = field(default_factory=list)
    history: list[tuple[float, str]] = field(default_factory=list)

    def see(self, status: str, now: float) -> None:
        if not self.history or self.history[-1][1] != status:
            self.history.append((now, status))
        if status == "PROCESSING" and self.processing_since is None:
            self.processing_since = now
        elif status != "PROCESSING" and self.processing_since is not None:
            self.processing_spans.append(now - self.processing_since)
            self.processing_since = None
        self.status = status

    def longest_processing(self, now: float) -> float:
        open_span = now - self.processing_since if self.processing_since is not None else 0.0
        return max([open_span, *self.processing_spans])


class Batch:
    """The server (replaced after the crash), the accepted jobs and a poller of their status."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server = start(data_dir, env=ENV, workers=2)
        self.outputs: list[list[str]] = [self.server.output]
        self.up = threading.Event()
        self.up.set()
        self.tracks: dict[str, Track] = {}
        self.refused: list[str] = []
        self.kills: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="poller", daemon=True)
        self._poller.start()

    @property
    def port(self) -> int:
        return int(self.server.url.rsplit(":", 1)[1])

    def upload(self, rng: random.Random, count: int, until: threading.Event | None = None) -> None:
        """Post ``count`` uploads, each once the server is up, then more while ``until`` is
        given and not set (at most ``count`` more); refused ones are noted."""
        with requests.Session() as session:
            for index in range(2 * count if until is not None else count):
                if index >= count and until is not None and until.is_set():
                    break
                name, data = FILES[index % len(FILES)]
                self.up.wait(60)
                try:
                    grant = create_upload(
                        session, self.server.url, name, "application/dicom", len(data)
                    )
                    answer = post_file(session, grant, name, "application/dicom", data)
                except (requests.ConnectionError, AssertionError) as exc:
                    self.refused.append(f"{name}: {type(exc).__name__}")
                    continue
                if 200 <= answer.status_code < 300:
                    with self._lock:
                        self.tracks[grant["jobId"]] = Track(grant["jobId"])
                else:
                    self.refused.append(f"{name}: {answer.status_code}")
                time.sleep(rng.uniform(*POST_GAP_S))

    def warm_up(self) -> None:
        """Two jobs (not tracked) processed first, so both workers are ready when the batch
        starts and the first kills land inside jobs, not in a worker's start-up."""
        name, data = FILES[2]
        with requests.Session() as session:
            ids = []
            for _ in range(2):
                grant = create_upload(
                    session, self.server.url, name, "application/dicom", len(data)
                )
                assert post_file(session, grant, name, "application/dicom", data).status_code == 204
                ids.append(grant["jobId"])
            deadline = time.monotonic() + 60
            for job_id in ids:
                while time.monotonic() < deadline:
                    view = session.get(f"{self.server.url}/jobs/{job_id}", timeout=10).json()
                    if view["status"] in TERMINAL:
                        break
                    time.sleep(0.1)

    def kill_worker(self, rng: random.Random) -> None:
        """SIGKILL one worker: one running a job if any shows up within 8 s, else any.

        Running a job = started over ``STARTUP_S`` ago (a new worker is busy importing at
        first) and using CPU now.
        """
        deadline = time.monotonic() + 8
        while True:
            workers = wait_for_workers(self.server.process.pid, self.port, 1)
            settled = [p for p in workers if (age_s(p) or 0.0) > STARTUP_S]
            before = {pid: cpu_ticks(pid) for pid in settled}
            time.sleep(0.05)
            busy = [p for p in settled if cpu_ticks(p) not in (None, before[p])]
            if busy or time.monotonic() > deadline:
                break
        victim = rng.choice(sorted(busy or workers))
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return  # it exited on its own in between: no kill to count
        self.kills.append(f"worker {victim} ({'busy' if victim in busy else 'idle'})")

    def crash_and_restart(self) -> None:
        """SIGKILL the whole server, then start another on the same data dir."""
        self.up.clear()
        old = self.server.process.pid
        self.server.kill_hard()
        self.kills.append(f"server {old}")
        self.server = start(self.data_dir, env=ENV, workers=2)
        self.outputs.append(self.server.output)
        self.up.set()

    def retried(self) -> bool:
        """Whether polling has seen a job on its second attempt (or later)."""
        with self._lock:
            return any(t.attempts > 1 for t in self.tracks.values())

    def wait_finished(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.tracks and all(t.status in TERMINAL for t in self.tracks.values()):
                    return
            time.sleep(0.2)

    def _poll(self) -> None:
        with requests.Session() as session:
            while not self._stop.wait(0.2):
                if not self.up.is_set():
                    continue
                with self._lock:
                    open_tracks = [t for t in self.tracks.values() if t.status not in TERMINAL]
                for track in open_tracks:
                    try:
                        view = session.get(f"{self.server.url}/jobs/{track.job_id}", timeout=10)
                    except requests.RequestException:
                        break  # the server is down; spans stay open
                    if view.status_code != 200:
                        continue
                    body = view.json()
                    with self._lock:
                        track.see(body["status"], time.monotonic())
                        track.attempts = body.get("attempts", 0)
                        track.code = (body.get("error") or {}).get("code")

    def close(self) -> None:
        self._stop.set()
        self._poller.join(15)
        if self.server.process.poll() is None:
            self.server.kill_hard()
        time.sleep(0.5)  # the workers' parent-death signal


def finish_lines(outputs: list[list[str]]) -> list[dict[str, str]]:
    """The processor's "object processed" log records of every server run."""
    records = []
    for output in outputs:
        for line in list(output):
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut by the crash
            if record.get("message") == "object processed":
                records.append(record)
    return records


@pytest.fixture
def batch(tmp_path: Path) -> Iterator[Batch]:
    built = Batch(tmp_path / "data")
    try:
        yield built
    finally:
        built.close()


def test_every_accepted_upload_ends_exactly_once_within_the_limit(batch: Batch) -> None:
    rng = random.Random(SEED)
    batch.warm_up()
    started = time.monotonic()

    # First half: one worker killed at a random moment, then the whole server mid-batch.
    first = threading.Thread(target=batch.upload, args=(random.Random(SEED + 1), UPLOADS_PER_HALF))
    first.start()
    time.sleep(rng.uniform(0.5, 1.5))
    batch.kill_worker(rng)
    time.sleep(rng.uniform(0.5, 1.5))
    batch.crash_and_restart()
    first.join(60)

    # Second half: worker kills at random moments, at least three, then until a retry is seen.
    kills_done = threading.Event()
    second = threading.Thread(
        target=batch.upload, args=(random.Random(SEED + 2), UPLOADS_PER_HALF, kills_done)
    )
    second.start()
    wait_for_workers(batch.server.process.pid, batch.port, 2)
    for kill in range(MAX_SECOND_HALF_KILLS):
        if kill >= SECOND_HALF_KILLS and batch.retried():
            break
        time.sleep(rng.uniform(0.2, 1.0))
        batch.kill_worker(rng)
    time.sleep(1.0)  # the last kill's job is picked up again before uploads end
    kills_done.set()
    second.join(60)
    batch.wait_finished(FINISH_WAIT_S)
    now = time.monotonic()

    tracks = dict(batch.tracks)
    report = "\n".join(
        [f"kills: {batch.kills}", f"not accepted: {batch.refused}"]
        + [
            f"{t.job_id} {t.status} {t.code or ''} attempts={t.attempts}"
            f" longest PROCESSING {t.longest_processing(now):.1f} s"
            f" seen {[(round(at - started, 1), status) for at, status in t.history]}"
            for t in tracks.values()
        ]
    )
    assert len(tracks) >= UPLOADS_PER_HALF, report
    unfinished = [t.job_id for t in tracks.values() if t.status not in TERMINAL]
    assert not unfinished, f"{len(unfinished)} accepted uploads never finished\n{report}"

    too_long = {
        t.job_id: round(t.longest_processing(now), 1)
        for t in tracks.values()
        if t.longest_processing(now) > JOB_LIMIT_S + SLACK_S
    }
    assert not too_long, f"PROCESSING over {JOB_LIMIT_S + SLACK_S:g} s: {too_long}\n{report}"

    records = [r for r in finish_lines(batch.outputs) if r.get("jobId") in tracks]
    finishes: dict[str, int] = {}
    for record in records:
        if record.get("outcome") in TERMINAL:
            finishes[record["jobId"]] = finishes.get(record["jobId"], 0) + 1
    assert all(n == 1 for n in finishes.values()), f"finished twice: {finishes}\n{report}"
    superseded = [r["jobId"] for r in records if r.get("outcome") == "SUPERSEDED"]
    assert not superseded, f"attempts that ran alongside another: {superseded}\n{report}"

    # Each kill interrupts at most one job of a worker (two for the server): every other
    # job ran once.
    retries = sum(max(0, t.attempts - 1) for t in tracks.values())
    assert retries <= len(batch.kills) + 1, f"{retries} retries for {batch.kills}\n{report}"
    assert retries >= 1, f"no kill interrupted a job: nothing was tested\n{report}"
    print(report)
