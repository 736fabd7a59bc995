"""``dicomlens analyze`` as a user runs it: outputs, index formats, exit codes, Ctrl-C."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from dicomlens.cli import main

CT = Path(str(get_testdata_file("CT_small.dcm")))
PALETTE = Path(str(get_testdata_file("examples_palette.dcm")))
RTPLAN = Path(str(get_testdata_file("rtplan.dcm")))


@pytest.fixture(autouse=True)
def _core_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the command; the analyzers have their own tests."""
    monkeypatch.setenv("DICOMLENS_ANALYZERS", "")


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(CT, folder / "ct.dcm")
    shutil.copy(PALETTE, folder / "nested" / "us.bin")  # the name says nothing: content decides
    shutil.copy(RTPLAN, folder / "nested" / "plan.dcm")
    return folder


def test_a_folder_is_analysed_recursively_into_json_and_pngs(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # When a user analyses a folder
    code = main(["analyze", str(inputs), "--out", str(out), "--workers", "2"])
    # Then every file succeeded, with previews for the images and none for the RT plan
    assert code == 0
    index = json.loads((out / "results.json").read_text())
    assert {Path(r["file"]).name for r in index} == {"ct.dcm", "us.bin", "plan.dcm"}
    assert all(r["status"] == "ok" for r in index)
    ct = json.loads((out / "ct.dcm.json").read_text())
    assert ct["result"]["summary"]["modality"] == "CT"
    assert [label["name"] for label in ct["result"]["labels"]] == ["CT Scan"]
    assert (out / "ct.dcm.preview.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "ct.dcm.thumbnail.png").exists()
    assert (out / "us.bin.preview.png").exists()
    assert not (out / "plan.dcm.preview.png").exists()
    plan = json.loads((out / "plan.dcm.json").read_text())
    assert plan["result"]["hasImage"] is False


def test_any_failure_gives_exit_1_and_the_reason_in_csv(inputs: Path, tmp_path: Path) -> None:
    # Given a folder with one file that is not an image
    (inputs / "notes.dcm").write_bytes(b"this is not dicom" * 20)
    out = tmp_path / "out"
    # When analysed with a CSV index
    code = main(["analyze", str(inputs), "--out", str(out), "--format", "csv"])
    # Then the exit code is 1 and the CSV names the stable code
    assert code == 1
    rows = {Path(r["file"]).name: r for r in csv.DictReader((out / "results.csv").open())}
    assert rows["notes.dcm"]["status"] == "failed"
    assert rows["notes.dcm"]["code"] == "NOT_AN_IMAGE"
    assert rows["ct.dcm"]["status"] == "ok"


def test_usage_errors_give_exit_2(tmp_path: Path) -> None:
    assert main(["analyze", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert main(["analyze", "--out", str(tmp_path)]) == 2
    assert main(["analyze", str(CT), "--workers", "0", "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--format", "xml"])
    assert exc.value.code == 2


def test_plain_progress_lines_when_not_a_terminal(inputs: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dicomlens.cli",
            "analyze",
            str(inputs),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 3 and all(": ok" in line for line in lines)
    assert "\r" not in done.stderr
    assert "analysed" in done.stdout and "results in" in done.stdout


def test_ctrl_c_stops_cleanly_with_a_partial_index(tmp_path: Path) -> None:
    # Given many files
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(400):
        shutil.copy(CT, folder / f"{index:03d}.dcm")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dicomlens.cli",
            "analyze",
            str(folder),
            "--out",
            str(out),
            "--workers",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a shell's background job (e.g. CI started with `&`) ignores
        # SIGINT, and a child that inherits SIG_IGN never sees Ctrl-C at all.
        preexec_fn=_default_sigint,  # noqa: PLW1509 - no threads in the child before exec
    )
    # When the user presses Ctrl-C once the command has recorded a file (its progress line
    # on stderr comes after the row; a worker's own JSON file can exist before that)
    first = _first_progress_line(process, timeout_s=60)
    if not first.startswith("[1/400]"):
        process.kill()
    assert first.startswith("[1/400]"), first
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=60)
    # Then it exits 130, says so, and leaves an index of what was done
    assert process.returncode == 130
    assert "interrupted" in stdout
    index = json.loads((out / "results.json").read_text())
    assert 0 < len(index) < 400


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _first_progress_line(process: subprocess.Popen[str], *, timeout_s: float) -> str:
    """The first ``[n/total]`` line ``process`` writes to stderr ("" if none in time)."""
    found: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("["):
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    return found[0] if found else ""


def test_a_full_disk_fails_the_files_it_hits_and_leaves_no_partial_output(
    inputs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import errno

    from dicomlens.cli import analyze

    real_write = analyze.write_output

    def full_for_us(target: Path, data: bytes | str) -> None:
        if target.name.startswith("us.bin.") and target.suffix == ".json":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(target, data)

    # Given an output disk that fills up while one file's results are written (the
    # workers are forked: they write through this too)
    monkeypatch.setattr(analyze, "write_output", full_for_us)
    out = tmp_path / "out"
    code = main(["analyze", str(inputs), "--out", str(out), "--workers", "2"])
    # Then that file failed with the reason, its images are not kept either, the others are
    # complete, and no partial file is left
    assert code == 1
    rows = {Path(r["file"]).name: r for r in json.loads((out / "results.json").read_text())}
    assert rows["us.bin"]["status"] == "failed"
    assert "No space left on device" in rows["us.bin"]["message"]
    assert {rows["ct.dcm"]["status"], rows["plan.dcm"]["status"]} == {"ok"}
    assert not list(out.glob("us.bin.*"))
    assert not list(out.glob(".*partial*"))

    # And when even the index cannot be written, the command says so in one line
    def full_for_index(target: Path, data: bytes | str) -> None:
        if target.name == "results.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(target, data)

    monkeypatch.setattr(analyze, "write_output", full_for_index)
    capsys.readouterr()
    code = main(["analyze", str(inputs), "--out", str(tmp_path / "out2"), "--workers", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "the index: the results could not be written (No space left on device)" in err
    assert "Traceback" not in err
