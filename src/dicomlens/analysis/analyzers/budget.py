"""Time budgets for analyzers: a deadline per analyzer call, enforced in the calling thread.

An analyzer runs in the thread that asked for it; no model ever runs in a background
thread. A watchdog timer only raises flags when the budget runs out: it asks every ONNX
Runtime run the analyzer has in flight to stop (``RunOptions.terminate``, which ONNX Runtime
honours between operators) and marks the budget spent, so that the next
:func:`check_deadline` between stages, or the next session run, raises
:class:`AnalyzerTimeoutError`. Code that can be neither terminated nor checked (one OpenCV
call) is bounded by the worker's hard time limit, which covers the analyzers' budgets.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

_current = threading.local()


class AnalyzerTimeoutError(Exception):
    """The analyzer's time budget ran out."""


class Budget:
    """One analyzer call's deadline, and the ONNX Runtime runs it may terminate."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self._spent = threading.Event()
        self._lock = threading.Lock()
        self._runs: set[Any] = set()

    @property
    def spent(self) -> bool:
        """Whether the budget has run out (set by the watchdog, or seen by a check)."""
        if not self._spent.is_set() and time.monotonic() >= self.deadline:
            self._spent.set()
        return self._spent.is_set()

    def expire(self) -> None:
        """Mark the budget spent and terminate every run in flight (the watchdog's job)."""
        self._spent.set()
        with self._lock:
            for run_options in self._runs:
                run_options.terminate = True

    def enter_run(self, run_options: Any) -> None:
        """Register a run about to start; refuse it when the budget is already spent."""
        with self._lock:
            if self.spent:
                raise AnalyzerTimeoutError(f"the {self.seconds:g} s budget ran out")
            self._runs.add(run_options)

    def leave_run(self, run_options: Any) -> None:
        """Forget a finished run."""
        with self._lock:
            self._runs.discard(run_options)


def current_budget() -> Budget | None:
    """The budget of the analyzer running in this thread, if any."""
    budget: Budget | None = getattr(_current, "budget", None)
    return budget


def check_deadline() -> None:
    """Raise :class:`AnalyzerTimeoutError` when this thread's analyzer budget is spent.

    Analyzers call it between stages; outside a budget it does nothing.
    """
    budget = current_budget()
    if budget is not None and budget.spent:
        raise AnalyzerTimeoutError(f"the {budget.seconds:g} s budget ran out")


@contextlib.contextmanager
def time_budget(seconds: float | None) -> Iterator[Budget | None]:
    """Run the ``with`` body (one analyzer call) under a budget of ``seconds`` (None: none).

    When the body ends, the watchdog is cancelled; nothing started inside keeps running.
    """
    if seconds is None:
        yield None
        return
    budget = Budget(seconds)
    watchdog = threading.Timer(seconds, budget.expire)
    watchdog.daemon = True
    previous = current_budget()
    _current.budget = budget
    watchdog.start()
    try:
        yield budget
    finally:
        watchdog.cancel()
        _current.budget = previous


class CancellableSession:
    """An ``onnxruntime.InferenceSession`` whose runs stop when the caller's budget runs out.

    Everything but :meth:`run` is passed through, so it stands in for the session wherever
    one is expected (RapidOCR's engines too).
    """

    def __init__(self, session: Any, run_options_type: Any) -> None:
        self._session = session
        self._run_options_type = run_options_type

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        """``InferenceSession.run``, terminated when this thread's budget runs out."""
        budget = current_budget()
        if budget is None:
            return self._session.run(output_names, input_feed, run_options)
        options = run_options if run_options is not None else self._run_options_type()
        budget.enter_run(options)
        try:
            return self._session.run(output_names, input_feed, options)
        except Exception as exc:
            if budget.spent:
                raise AnalyzerTimeoutError(f"the {budget.seconds:g} s budget ran out") from exc
            raise
        finally:
            budget.leave_run(options)
