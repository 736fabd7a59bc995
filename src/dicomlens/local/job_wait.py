"""``GET /jobs/{jobId}?wait=s`` on the local server: the answer waits until the job has ended.

An API client that uploads a file and wants its results otherwise polls, and either polls
often (each poll is a whole request, about a millisecond of the server's CPU that the
workers need) or learns late that its job ended. Here the server holds the request instead,
before it calls the ``GET /jobs/{jobId}`` handler once: it looks at the job's status column
(one indexed SQLite read, tens of microseconds) every 10 ms at first, then less often, up to
every 100 ms, and stops as soon as the job is COMPLETED, FAILED or EXPIRED, unknown, the
wait has run out, or the client has gone. Waiting happens on the event loop (no thread is
held), and at most :data:`MAX_WAITERS` requests wait at once; any more are answered at once,
as a server that does not wait would answer them.

The handler validates ``wait`` itself (0 to :data:`~dicomlens.domain.jobs.MAX_JOB_WAIT_S`
seconds, 400 otherwise); a value it would refuse is not waited for here.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from dicomlens.adapters.local.sqlite_jobs import SqliteJobStore
from dicomlens.domain.jobs import MAX_JOB_WAIT_S, TERMINAL

JOB_ROUTE_KEY = "GET /jobs/{jobId}"
FIRST_INTERVAL_S = 0.01
MAX_INTERVAL_S = 0.1
INTERVAL_GROWTH = 1.5
MAX_WAITERS = 64


def requested_wait(query: str) -> float:
    """The seconds ``wait`` asks for in the query string ``query``; 0 when it is absent,
    given more than once, or not a number from 0 to ``MAX_JOB_WAIT_S``."""
    values = parse_qs(query, keep_blank_values=True).get("wait", [])
    if len(values) != 1:
        return 0.0
    try:
        seconds = float(values[0])
    except ValueError:
        return 0.0
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_JOB_WAIT_S:
        return 0.0
    return seconds


class JobWaiter:
    """Holds requests until their job has ended (see the module)."""

    def __init__(
        self,
        jobs: SqliteJobStore,
        *,
        max_waiters: int = MAX_WAITERS,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._jobs = jobs
        self._max_waiters = max_waiters
        self._monotonic = monotonic
        self._sleep = sleep
        self.waiting = 0

    async def until_ended(
        self,
        job_id: str,
        wait_s: float,
        *,
        disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """Return once job ``job_id`` has ended or is unknown, ``wait_s`` seconds have
        passed, or ``disconnected()`` says the client has gone; at once for no wait, or
        when :data:`MAX_WAITERS` requests are already waiting."""
        if wait_s <= 0 or self.waiting >= self._max_waiters:
            return
        self.waiting += 1
        try:
            deadline = self._monotonic() + wait_s
            interval = FIRST_INTERVAL_S
            while True:
                status = self._jobs.status(job_id)
                if status is None or status in TERMINAL:
                    return
                left = deadline - self._monotonic()
                if left <= 0:
                    return
                await self._sleep(min(interval, left))
                interval = min(MAX_INTERVAL_S, interval * INTERVAL_GROWTH)
                if disconnected is not None and await disconnected():
                    return
        finally:
            self.waiting -= 1
