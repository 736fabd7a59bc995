"""The local server's pool for compute handlers: a call past the limit kills and replaces its
worker and answers the stable error; a dead worker too; a full queue answers 503.

The handler double lives in this module; the spawned workers import it by name, as they
import the de-identification handler from the template.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from dicomlens.config import Settings
from dicomlens.local.isolated_calls import MAX_WAITING, IsolatedCalls

LIMIT_S = 1.0


def handler_double(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sleeps ``event["sleep"]`` seconds (or exits when told), then answers its pid."""
    del context
    if event.get("exit"):
        os._exit(3)  # stands in for a decoder that takes its process down
    time.sleep(float(event.get("sleep", 0)))
    return {"statusCode": 200, "body": json.dumps({"pid": os.getpid()})}


def _error(response: dict[str, Any]) -> tuple[int, str]:
    return response["statusCode"], json.loads(response["body"])["error"]["code"]


async def _scenario(calls: IsolatedCalls) -> None:
    # Given a started worker
    first = await calls.invoke({"sleep": 0})
    assert first["statusCode"] == 200
    pid = json.loads(first["body"])["pid"]
    assert pid != os.getpid()
    # When a call overruns the limit, then it is stopped promptly with the stable error
    started = time.monotonic()
    assert _error(await calls.invoke({"sleep": 60})) == (422, "PROCESSING_TIMEOUT")
    assert time.monotonic() - started < LIMIT_S + 2
    # And a fresh worker serves the next call
    after = await calls.invoke({"sleep": 0})
    assert after["statusCode"] == 200
    assert json.loads(after["body"])["pid"] != pid
    # When a worker dies during a call, then a 4xx naming the crash, and the next call is served
    assert _error(await calls.invoke({"exit": True})) == (422, "WORKER_CRASHED")
    assert (await calls.invoke({"sleep": 0}))["statusCode"] == 200
    # When more calls arrive than one worker and the queue hold, then the rest get 503
    burst = await asyncio.gather(*(calls.invoke({"sleep": 0.05}) for _ in range(MAX_WAITING + 3)))
    statuses = sorted(response["statusCode"] for response in burst)
    assert statuses == [200] * (MAX_WAITING + 1) + [503] * 2
    assert {_error(r) for r in burst if r["statusCode"] == 503} == {(503, "SERVER_BUSY")}


def test_timeouts_deaths_and_bursts_give_stable_errors_and_the_pool_recovers(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", deid_time_limit_s=LIMIT_S)
    calls = IsolatedCalls(
        settings=settings, handler_name=f"{__name__}.handler_double", function="f", size=1
    )

    async def run() -> None:
        try:
            await _scenario(calls)
        finally:
            calls.stop()

    asyncio.run(run())
