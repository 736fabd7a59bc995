"""A running server's processes from /proc: which is which, their memory, their CPU time.

Roles: ``server`` is the process ``dicomlens serve`` started as; ``http`` a child that holds
the listening socket (an extra HTTP process); ``tracker`` multiprocessing's resource tracker;
``worker`` every other descendant (the processing pool). Linux only, like the worker pool's
parent-death signal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
MiB = 1024


def descendants(root: int) -> list[int]:
    """Every live descendant of ``root`` (children, grandchildren ...), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    frontier = [root]
    while frontier:
        children = parents.get(frontier.pop(), [])
        found.extend(children)
        frontier.extend(children)
    return found


def status_kib(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of ``pid`` in KiB, or None when it is gone."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    if len(values) < 2:
        return None  # a zombie has no memory lines
    return values["VmRSS"], values["VmHWM"]


def cpu_ticks(pid: int) -> int | None:
    """User + system CPU time of ``pid`` in clock ticks, or None when it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def age_s(pid: int) -> float | None:
    """Seconds since ``pid`` started, or None when it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        uptime = float((PROC / "uptime").read_text().split()[0])
    except OSError:
        return None
    return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")


def listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP ``port`` (IPv4 and IPv6)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(parts[9])
    return inodes


def holds_socket(pid: int, inodes: set[str]) -> bool:
    """Whether ``pid`` has one of the socket ``inodes`` open."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    with contextlib.suppress(OSError):
        for fd in (PROC / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                if str(fd.readlink()) in wanted:
                    return True
    return False


def role_of(pid: int, *, server: int, port: int) -> str:
    """``server``, ``http``, ``tracker`` or ``worker`` (see the module docstring)."""
    if pid == server:
        return "server"
    try:
        cmdline = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "gone"
    if b"resource_tracker" in cmdline:
        return "tracker"
    return "http" if holds_socket(pid, listening_inodes(port)) else "worker"


def worker_pids(server: int, port: int) -> list[int]:
    """The live worker processes of the server ``server`` listening on ``port``."""
    return [p for p in descendants(server) if role_of(p, server=server, port=port) == "worker"]


@dataclass
class Peak:
    """The highest RSS one process reached in a window (KiB)."""

    pid: int
    role: str
    kib: int


@dataclass
class _Seen:
    role: str
    hwm_at_start: int
    peak: int = 0


@dataclass
class MemorySampler:
    """Samples VmRSS/VmHWM of a server and its descendants on a thread.

    Peaks are kept per window (:meth:`begin`/:meth:`end`): the highest VmRSS sampled, or the
    process's VmHWM when that rose during the window (a spike between two samples). A
    process over ``guard_kib`` is killed at once so a bomb cannot take the shared machine
    down; the window keeps the peak that was seen, and :attr:`guard_kills` records it.
    """

    server: int
    port: int
    guard_kib: int | None = None
    interval_s: float = 0.02
    guard_kills: list[Peak] = field(default_factory=list)
    _window: dict[int, _Seen] = field(default_factory=dict)
    _roles: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> MemorySampler:
        """Begin sampling (and a first window)."""
        self.begin()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def begin(self) -> None:
        """Start a new window: peaks from now on."""
        with self._lock:
            self._window = {}
            for pid in [self.server, *descendants(self.server)]:
                memory = status_kib(pid)
                if memory is not None:
                    self._window[pid] = _Seen(role=self._role(pid), hwm_at_start=memory[1])

    def end(self) -> list[Peak]:
        """The peaks of the window since :meth:`begin` (one sample taken now)."""
        self.sample()
        with self._lock:
            return [Peak(pid, seen.role, seen.peak) for pid, seen in self._window.items()]

    def sample(self) -> None:
        """Read every process's memory once (the thread calls this every ``interval_s``)."""
        for pid in [self.server, *descendants(self.server)]:
            memory = status_kib(pid)
            if memory is None:
                continue
            rss, hwm = memory
            with self._lock:
                seen = self._window.get(pid)
                if seen is None:  # started during the window: its whole life is in it
                    seen = self._window[pid] = _Seen(role=self._role(pid), hwm_at_start=0)
                seen.peak = max(seen.peak, rss, hwm if hwm > seen.hwm_at_start else 0)
                over = self.guard_kib is not None and seen.peak > self.guard_kib
            if over:
                self.guard_kills.append(Peak(pid, self._role(pid), seen.peak))
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _role(self, pid: int) -> str:
        if pid not in self._roles:
            self._roles[pid] = role_of(pid, server=self.server, port=self.port)
        return self._roles[pid]

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()


def wait_for_workers(server: int, port: int, count: int, timeout: float = 60) -> list[int]:
    """The worker pids, once ``count`` of them run."""
    deadline = time.monotonic() + timeout
    while True:
        found = worker_pids(server, port)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
