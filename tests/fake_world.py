"""The process wired by ``bootstrap.build_services`` with the in-memory fakes (tests/fakes.py)."""

from __future__ import annotations

from typing import Any

from dicomlens import bootstrap
from dicomlens.config import Settings
from fakes import FakeClock, InMemoryBlobStore, InMemoryJobStore, SequentialIds

JOB = "0123456789abcdef0123456789abcdef"


def local_settings(**overrides: Any) -> Settings:
    """Local-mode settings with no analyzers, plus ``overrides``."""
    return Settings(**{"mode": "local", "analyzers": (), **overrides})


class FakeWorld:
    """In-memory blobs and jobs, a clock that moves only when told, and ids that start with
    ``JOB``, wired into ``services`` exactly as the deployed process wires its adapters."""

    def __init__(self, settings: Settings) -> None:
        self.clock = FakeClock()
        self.blobs = InMemoryBlobStore(self.clock)
        self.jobs = InMemoryJobStore()
        self.services = bootstrap.build_services(
            settings, blobs=self.blobs, jobs=self.jobs, clock=self.clock, ids=SequentialIds(JOB)
        )

    def install(self) -> FakeWorld:
        """Make these the services the handlers use (undo with ``use_services(None)``)."""
        bootstrap.use_services(self.services)
        return self
