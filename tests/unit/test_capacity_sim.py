"""The capacity simulation of docs/capacity.md behaves like the queueing it models."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "capacity_sim.py"


def _sim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("capacity_sim", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["capacity_sim"] = module
    spec.loader.exec_module(module)
    return module


def test_with_room_to_spare_every_upload_completes_in_about_its_processing_time() -> None:
    sim = _sim()
    result = sim.simulate(sim.Scenario(name="light", rate=1.0, minutes=2, max_concurrency=20))
    assert result.completed == result.uploads > 60
    assert result.throttled_share == 0
    assert result.peak_queue <= 3
    assert 1.0 < result.latency_p50 < 3.0  # a 2 s mean, lognormal


def test_arrivals_beyond_the_processors_capacity_pile_up_in_the_queue() -> None:
    sim = _sim()
    # 2 uploads/s against 2 processors of 2 s each (1 upload/s): the queue grows by ~1/s
    result = sim.simulate(sim.Scenario(name="over", rate=2.0, minutes=2, max_concurrency=2))
    assert result.peak_concurrency == 2
    assert result.peak_queue > 60
    assert result.latency_max > 30


def test_the_rekognition_quota_caps_the_calls_per_second() -> None:
    sim = _sim()
    result = sim.simulate(
        sim.Scenario(name="quota", rate=5.0, minutes=1, max_concurrency=50, rekognition_tps=4)
    )
    assert result.rekognition_peak_tps <= 3 * 4  # three APIs, each under its own quota
    assert result.peak_queue > 20  # each API takes 4 calls/s: at most 4 uploads/s get through
