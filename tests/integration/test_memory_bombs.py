"""Bombs through the real local server: bounded memory, a stable outcome, in bounded time.

Given ``dicomlens serve`` with two process workers, the OCR analyzer (as a local install runs
it), a 4 s decode limit and the sampler of tests/integration/process_tree.py reading VmRSS and
VmHWM of the server process and every descendant every 20 ms,
when every file of tests/corpus/bombs.py is uploaded as the page does it (POST /uploads, the
multipart form post, polling GET /jobs/{id}), one after another, and each DICOM one is then
de-identified through POST /jobs/{id}/deidentify,
then:

- **Memory bound**: no process of the server (the server, its HTTP processes, each worker)
  goes above ``BOUND = P + 300 MB``, where ``P`` is the highest peak RSS any of them reached
  while processing and de-identifying a normal 512 x 512 CT (the legitimate image) in the same
  run with the same settings. The sampler SIGKILLs a process past ``BOUND + 700 MB`` so that a
  bomb cannot exhaust the shared machine; that bomb has failed the bound already.
- **Outcome**: each job ends with one of the bomb's allowed outcomes (tests/corpus/bombs.py:
  stable failure codes, COMPLETED only where a sane reader may accept the file; never
  INTERNAL, never DECODE_TIMEOUT) within the job limit (decode_timeout_s + 5 s) plus 5 s of
  the form post; de-identification answers within that time with 2xx or a 4xx carrying a
  stable code (CONFLICT for a job that did not complete).

``dicomlens deidentify`` (the CLI, two worker processes, default settings but the same 4 s
decode limit) gets every DICOM bomb in one run too: the same bound over the CLI process and
its workers, measured against the same CT de-identified by the CLI first; each file's row is
``ok`` or a stable failure code (never INTERNAL, never DECODE_TIMEOUT) within the CLI's own
per-file limit (2 x decode_timeout_s + 30 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bomb_run import MB, FileRun, normal_ct, run_file
from local_server import Server, start
from process_tree import MemorySampler, Peak, wait_for_workers

from corpus.bombs import BOMBS, BombCase, write_bombs

DECODE_TIMEOUT_S = 4.0
JOB_LIMIT_S = DECODE_TIMEOUT_S + 5.0  # the pool's JOB_GRACE_S
WAIT_S = JOB_LIMIT_S + 5.0
HEADROOM_MB = 300
GUARD_MB = HEADROOM_MB + 700
ENV = {
    "DICOMLENS_DECODE_TIMEOUT_S": str(DECODE_TIMEOUT_S),
    "DICOMLENS_ANALYZERS": "ocr",
}
STABLE_DEID_CODES = {
    "CONFLICT",
    "INVALID_DICOM",
    "UNSUPPORTED_TRANSFER_SYNTAX",
    "TRUNCATED_PIXEL_DATA",
    "TOO_LARGE",
    "DEIDENTIFICATION_FAILED",
    "REDACTION_IMPOSSIBLE",
    "REDACTION_INCOMPLETE",
}


class BombRun:
    """The baseline and every bomb's run, from one server."""

    def __init__(self, baseline: list[FileRun], runs: dict[str, FileRun], server: Server):
        self.baseline = baseline
        self.runs = runs
        self.output = server.output
        self.legitimate_kib = max(run.peak_kib() for run in baseline)
        self.bound_kib = self.legitimate_kib + HEADROOM_MB * MB

    def describe(self) -> str:
        lines = [f"legitimate peak {self.legitimate_kib // MB} MB, bound {self.bound_kib // MB} MB"]
        lines += [run.line() for run in (*self.baseline, *self.runs.values())]
        return "\n".join(lines)


@pytest.fixture(scope="module")
def bomb_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BombRun]:
    """Baseline first (the CT three times, so both workers process it), then every bomb."""
    tmp = tmp_path_factory.mktemp("bombs")
    server = start(tmp / "data", env=ENV, workers=2)
    port = int(server.url.rsplit(":", 1)[1])
    sampler = MemorySampler(server=server.process.pid, port=port)
    try:
        wait_for_workers(server.process.pid, port, 2)
        sampler.start()
        ct = normal_ct()
        baseline = [
            run_file(
                server,
                sampler,
                name=f"ct512_{i}.dcm",
                content_type="application/dicom",
                data=ct,
                wait_s=60,
                deidentify_dicom=True,
            )
            for i in range(3)
        ]
        for run in baseline:
            assert run.status == "COMPLETED", run.line()
            assert run.deid_status is not None and run.deid_status < 300, run.line()
        legitimate = max(run.peak_kib() for run in baseline)
        sampler.guard_kib = legitimate + GUARD_MB * MB
        runs = {}
        for case in BOMBS:
            runs[case.name] = run_file(
                server,
                sampler,
                name=case.name,
                content_type=case.content_type,
                data=case.build(),
                wait_s=WAIT_S,
                deidentify_dicom=case.is_dicom,
            )
            if sampler.guard_kills:
                runs[case.name].notes.append(f"killed by the guard: {sampler.guard_kills}")
                sampler.guard_kills.clear()
        yield BombRun(baseline, runs, server)
    finally:
        sampler.stop()
        server.kill_hard()
        time.sleep(0.5)  # the workers' parent-death signal


def _ids(case: BombCase) -> str:
    return case.name


@pytest.mark.parametrize("case", BOMBS, ids=_ids)
def test_every_server_process_stays_under_the_bound(bomb_run: BombRun, case: BombCase) -> None:
    run = bomb_run.runs[case.name]
    over = [p for p in run.peaks if p.role != "tracker" and p.kib > bomb_run.bound_kib]
    assert not over, (
        f"{case.about}: peak RSS over {bomb_run.bound_kib // MB} MB: "
        + ", ".join(f"{p.role} {p.pid} {p.kib // MB} MB" for p in over)
        + f"\n{run.line()} {run.notes}"
    )


@pytest.mark.parametrize("case", BOMBS, ids=_ids)
def test_every_bomb_ends_with_a_stable_outcome_in_bounded_time(
    bomb_run: BombRun, case: BombCase
) -> None:
    run = bomb_run.runs[case.name]
    assert run.accepted, run.notes
    outcome = run.code if run.status == "FAILED" else run.status
    assert outcome in case.outcomes, (
        f"{case.about}: ended {run.status} {run.code} after {run.seconds:.1f} s"
        f" (allowed: {sorted(case.outcomes)}) {run.notes}"
    )
    assert run.seconds <= WAIT_S


@pytest.mark.parametrize("case", [c for c in BOMBS if c.is_dicom], ids=_ids)
def test_deidentifying_a_bomb_answers_with_a_stable_status(
    bomb_run: BombRun, case: BombCase
) -> None:
    run = bomb_run.runs[case.name]
    assert run.deid_status is not None, f"{case.about}: {run.notes}"
    assert run.deid_seconds is not None and run.deid_seconds <= WAIT_S
    if run.deid_status >= 300:
        assert 400 <= run.deid_status < 500, f"{case.about}: {run.deid_status} {run.deid_code}"
        assert run.deid_code in STABLE_DEID_CODES, f"{case.about}: {run.deid_code}"


def test_the_bound_is_stated_from_a_legitimate_image(bomb_run: BombRun) -> None:
    print(bomb_run.describe())
    assert 0 < bomb_run.legitimate_kib < bomb_run.bound_kib


CLI_FILE_LIMIT_S = 2 * DECODE_TIMEOUT_S + 30


@dataclass
class CliRun:
    """One ``dicomlens deidentify`` run: its rows by input name and its processes' peaks."""

    rows: dict[str, dict[str, Any]]
    peaks: list[Peak]
    seconds: float


def _deidentify_cli(inputs: list[Path], out: Path, guard_kib: int | None) -> CliRun:
    started = time.monotonic()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "dicomlens.cli", "deidentify", *map(str, inputs)),
            *("--out", str(out), "--workers", "2", "--keep-names"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **ENV},
    )
    sampler = MemorySampler(server=process.pid, port=0, guard_kib=guard_kib).start()
    try:
        process.wait(timeout=len(inputs) * CLI_FILE_LIMIT_S)
    finally:
        sampler.stop()
        if process.poll() is None:
            process.kill()
    index = json.loads((out / "deidentified.json").read_text())
    rows = {Path(row["file"]).name: row for row in index}
    return CliRun(rows=rows, peaks=sampler.end(), seconds=time.monotonic() - started)


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[CliRun, CliRun]:
    """The CLI on the CT alone (the baseline), then on every DICOM bomb."""
    tmp = tmp_path_factory.mktemp("cli-bombs")
    ct = tmp / "ct" / "ct512.dcm"
    ct.parent.mkdir()
    ct.write_bytes(normal_ct())
    baseline = _deidentify_cli([ct], tmp / "ct-out", None)
    assert baseline.rows["ct512.dcm"]["status"] == "ok", baseline.rows
    legitimate = max(p.kib for p in baseline.peaks if p.role != "tracker")
    paths = write_bombs(tmp / "bombs")
    dicom = [paths[case.name] for case in BOMBS if case.is_dicom]
    bombs = _deidentify_cli(dicom, tmp / "bombs-out", legitimate + GUARD_MB * MB)
    return baseline, bombs


def test_the_deidentify_cli_stays_under_the_bound_on_every_bomb(
    cli_runs: tuple[CliRun, CliRun],
) -> None:
    baseline, bombs = cli_runs
    legitimate = max(p.kib for p in baseline.peaks if p.role != "tracker")
    over = [p for p in bombs.peaks if p.role != "tracker" and p.kib > legitimate + HEADROOM_MB * MB]
    assert not over, (
        f"over {legitimate // MB + HEADROOM_MB} MB: "
        + ", ".join(f"{p.role} {p.pid} {p.kib // MB} MB" for p in over)
        + f"\nrows: {list(bombs.rows.values())}"
    )


@pytest.mark.parametrize("case", [c for c in BOMBS if c.is_dicom], ids=_ids)
def test_the_deidentify_cli_ends_every_bomb_with_a_stable_code(
    cli_runs: tuple[CliRun, CliRun], case: BombCase
) -> None:
    # "the worker process died" in a row is the memory guard's kill (see the bound test above)
    row = cli_runs[1].rows.get(case.name)
    assert row is not None, f"{case.name}: no row in the index"
    assert row["status"] == "ok" or row.get("code") not in (None, "INTERNAL", "DECODE_TIMEOUT"), (
        f"{case.about}: {row}"
    )
    assert row["seconds"] <= CLI_FILE_LIMIT_S, f"{case.about}: {row}"
