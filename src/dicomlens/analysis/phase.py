"""Which phase of a file's analysis this process is in, for a supervisor that may kill it.

A worker killed at the hard time limit cannot say what it was doing, so the pipeline
announces each phase to a listener the worker installs (the local pool keeps it in shared
memory); the supervisor then names the right timeout: ``DECODE_TIMEOUT`` only when decoding
(or rendering) overran, ``PROCESSING_TIMEOUT`` when the analyzers did.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from dicomlens.domain.errors import ErrorCode


class Phase(IntEnum):
    """A phase of :func:`~dicomlens.analysis.pipeline.analyze_file` (a number, for shared
    memory)."""

    DECODING = 0
    ANALYZING = 1


_listener: Callable[[Phase], None] | None = None


def listen(listener: Callable[[Phase], None] | None) -> None:
    """Have ``listener`` told of every phase this process enters (None: nobody)."""
    global _listener  # noqa: PLW0603 - one listener per worker process
    _listener = listener


def enter(phase: Phase) -> None:
    """Announce that this process enters ``phase``."""
    if _listener is not None:
        _listener(phase)


def timeout_error(phase: float, limit_s: float) -> tuple[ErrorCode, str]:
    """The code and message of a file stopped at ``limit_s`` while in ``phase``."""
    if int(phase) == Phase.ANALYZING:
        return ErrorCode.PROCESSING_TIMEOUT, (
            f"processing took over {limit_s:g} s in the analyzers and was stopped"
        )
    return ErrorCode.DECODE_TIMEOUT, f"processing took over {limit_s:g} s and was stopped"
