"""Worker processes never outlive their parent: ``dicomlens analyze``'s, a batch's busy
workers, and the local server's (also the ones it started to replace a dead worker)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import local_server
from pydicom.data import get_testdata_file

CT = Path(str(get_testdata_file("CT_small.dcm")))
GONE_WITHIN_S = 5.0


def _stat(pid: int) -> tuple[str, int] | None:
    """A process's state letter and parent pid, or None when it no longer exists."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None and found[0] != "Z":
                parents[int(entry.name)] = found[1]
    below: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - below
        below |= frontier
    return below


def wait_for_children(pid: int, count: int, timeout_s: float = 60) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = descendants(pid)
        if len(children) >= count:
            return children
        time.sleep(0.1)
    raise AssertionError(f"{pid} did not start {count} workers: {descendants(pid)}")


def alive_after(pids: set[int], timeout_s: float) -> set[int]:
    """The ``pids`` still running (zombies count as gone) after up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if (_stat(pid) or ("Z", 0))[0] != "Z"}
        time.sleep(0.05)
    return alive


def _kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_analyze_workers_exit_when_the_command_is_killed(tmp_path: Path) -> None:
    # Given `dicomlens analyze` busy with many files in two workers
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(400):
        shutil.copy(CT, folder / f"{index:03d}.dcm")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dicomlens.cli",
            "analyze",
            str(folder),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "DICOMLENS_ANALYZERS": ""},
    )
    workers = wait_for_children(process.pid, 2)
    time.sleep(1.0)  # well into the batch
    # When the command is killed outright
    process.kill()
    process.wait(10)
    # Then every worker is gone within seconds
    alive = alive_after(workers, GONE_WITHIN_S)
    _kill_all(alive)
    assert not alive, f"orphaned workers: {alive}"


BUSY_BATCH = textwrap.dedent(
    """
    import functools, time
    from dicomlens.cli.timed_batch import run_batch

    def sleep(seconds):
        time.sleep(seconds)
        return {}

    for _ in run_batch([600] * 4, sleep, workers=2, timeout_s=3600):
        pass
    """
)


def test_busy_batch_workers_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    # Given a batch whose two workers are in the middle of long items
    script = tmp_path / "busy_batch.py"
    script.write_text(BUSY_BATCH)
    process = subprocess.Popen([sys.executable, str(script)])
    workers = wait_for_children(process.pid, 2)
    time.sleep(0.5)
    # When the parent is killed
    process.kill()
    process.wait(10)
    # Then the busy workers are killed too (they would never read their pipe again)
    alive = alive_after(workers, GONE_WITHIN_S)
    _kill_all(alive)
    assert not alive, f"orphaned workers: {alive}"


def test_server_workers_exit_when_the_server_is_killed(tmp_path: Path) -> None:
    # Given a running server with two workers, one of which died and was replaced (the
    # replacement is started by the pool's monitor thread, not the main thread)
    server = local_server.start(tmp_path / "data", workers=2)
    try:
        before = wait_for_children(server.process.pid, 3)  # 2 workers + 1 HTTP process
        # The pool starts its workers before the extra HTTP processes: the first spawned
        # child is a worker.
        victim = min(_named_children(server.process.pid, "spawn_main"))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = descendants(server.process.pid)
            if victim not in now and len(now - before) >= 1:
                break
            time.sleep(0.1)
        everything = descendants(server.process.pid)
        assert everything - before, "the dead worker was not replaced"
    finally:
        # When the server is killed outright
        server.kill_hard()
    # Then every process it started is gone within seconds
    alive = alive_after(everything, GONE_WITHIN_S)
    names = {pid: _cmdline(pid) for pid in alive}
    _kill_all(alive)
    assert not alive, f"orphaned server processes: {names} (victim {victim}, before {before})"


def _named_children(pid: int, name: str) -> set[int]:
    """Descendants whose command line mentions ``name``."""
    found = set()
    for child in descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if name.encode() in cmdline:
            found.add(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[-120:]
    except FileNotFoundError:
        return "?"
