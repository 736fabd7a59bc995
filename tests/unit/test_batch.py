"""The worker pool behind ``dicomlens analyze``: results, crashes and hard timeouts."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from dicomlens.cli.timed_batch import failure_text, run_batch
from dicomlens.domain.errors import ErrorCode


def _square(item: int) -> dict[str, Any]:
    return {"square": item * item}


def _slow_or_crash(item: str) -> dict[str, Any]:
    if item == "hang":
        time.sleep(60)
    if item == "die":
        os._exit(3)
    if item == "raise":
        raise ValueError("boom")
    return {"ok": item}


def test_every_item_yields_exactly_one_outcome() -> None:
    # Given 25 items and two workers
    # When the batch runs
    outcomes = list(run_batch(list(range(25)), _square, workers=2, timeout_s=30))
    # Then each item has one outcome with its own value
    assert sorted(o.index for o in outcomes) == list(range(25))
    assert all(o.value == {"square": o.item * o.item} for o in outcomes)


def test_a_hanging_item_is_stopped_and_reported_as_timeout_while_others_finish() -> None:
    # Given one item that never finishes among good ones
    items = ["a", "hang", "b", "c"]
    start = time.monotonic()
    # When the batch runs with a one-second limit
    outcomes = {o.item: o for o in run_batch(items, _slow_or_crash, workers=2, timeout_s=1.0)}
    # Then the hanging one is DECODE_TIMEOUT, the others succeed, and nobody waited a minute
    assert outcomes["hang"].error_code == ErrorCode.DECODE_TIMEOUT
    assert {outcomes[k].value["ok"] for k in "abc"} == set("abc")  # type: ignore[index]
    assert time.monotonic() - start < 15


def test_a_crashing_worker_or_exception_fails_only_its_item() -> None:
    # Given an item that kills its worker and one that raises
    items = ["die", "x", "raise", "y"]
    # When the batch runs
    outcomes = {o.item: o for o in run_batch(items, _slow_or_crash, workers=1, timeout_s=10)}
    # Then both are failures with a reason, and the rest still complete
    assert outcomes["die"].value is None and outcomes["die"].error_message
    # (the type and where it was raised, never the message: it may quote a file's content)
    reason = str(outcomes["raise"].error_message)
    assert outcomes["raise"].value is None and reason.startswith("ValueError at test_batch.py:")
    assert "boom" not in reason
    assert outcomes["x"].value == {"ok": "x"} and outcomes["y"].value == {"ok": "y"}


def test_a_failure_report_never_quotes_a_message_or_a_path() -> None:
    with pytest.raises(FileNotFoundError) as missing:
        Path("/nonexistent/ZEBRA^QUINCE ZQ-55321.dcm").read_bytes()
    assert failure_text(missing.value) == "FileNotFoundError: No such file or directory"
    try:
        raise KeyError("Patient's Name: ZEBRA^QUINCE")
    except KeyError as exc:
        text = failure_text(exc)
    assert text.startswith("KeyError at test_batch.py:")
    assert "ZEBRA" not in text
