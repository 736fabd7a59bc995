"""Analyzers never fail or stall a job: thin and tiny frames are skipped with a finding, and an
analyzer that runs out of its time budget is stopped with a finding while the job completes.

Real analyzers (classifier, faces, OCR) through the processing entry, on in-memory stores.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from corpus.generate import SECONDARY_CAPTURE, new_dataset, to_bytes
from dicomlens import bootstrap
from dicomlens.analysis.analyzers import BurnedInTextReader
from dicomlens.analysis.analyzers.budget import AnalyzerTimeoutError, check_deadline, time_budget
from dicomlens.analysis.pipeline import AnalysisOptions
from dicomlens.domain.jobs import JobStatus
from dicomlens.domain.results import ImageSummary, PhiFields
from dicomlens.ports import AnalyzerInput, AnalyzerOutput
from dicomlens.services.processing import ImageProcessor, UploadOutcome
from fake_world import FakeWorld, local_settings

SHAPES = [(1, 513), (513, 1), (2, 2), (1, 1)]
ALL_ANALYZERS = ("classifier", "faces", "ocr")


def _png(rows: int, columns: int, *, rgb: bool) -> bytes:
    rng = np.random.default_rng(rows * 1000 + columns)
    shape = (rows, columns, 3) if rgb else (rows, columns)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _dicom(rows: int, columns: int, *, rgb: bool) -> bytes:
    ds = new_dataset(SECONDARY_CAPTURE, 700 + rows + columns, "OT")
    rng = np.random.default_rng(rows * 1000 + columns)
    samples = 3 if rgb else 1
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = "RGB" if rgb else "MONOCHROME2"
    if rgb:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    pixels = rng.integers(0, 256, (rows, columns, samples), dtype=np.uint8).tobytes()
    ds.PixelData = pixels + b"\0" * (len(pixels) % 2)
    return to_bytes(ds)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWorld]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    yield FakeWorld(local_settings(analyzers=ALL_ANALYZERS)).install()
    bootstrap.use_services(None)


def _process(
    world: FakeWorld,
    name: str,
    data: bytes,
    content_type: str,
    processor: ImageProcessor | None = None,
) -> tuple[str, float]:
    grant = world.services.uploads.create_upload(
        file_name=name, content_type=content_type, size=len(data)
    )
    world.blobs.receive_upload(grant.post.fields["key"], data)
    started = time.monotonic()
    processor = processor or world.services.processor
    report = processor.process_upload(grant.post.fields["key"])
    assert report.outcome is UploadOutcome.COMPLETED, report
    return grant.job_id, time.monotonic() - started


@pytest.mark.parametrize("rgb", [False, True], ids=["gray", "rgb"])
@pytest.mark.parametrize("kind", ["png", "dicom"])
@pytest.mark.parametrize(("rows", "columns"), SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
def test_thin_and_tiny_images_complete_quickly_with_every_analyzer_skipped(
    world: FakeWorld, rows: int, columns: int, kind: str, *, rgb: bool
) -> None:
    # Given a valid image only one or two pixels thin, and every built-in analyzer
    data = _dicom(rows, columns, rgb=rgb) if kind == "dicom" else _png(rows, columns, rgb=rgb)
    content_type = "application/dicom" if kind == "dicom" else "image/png"
    # When it is processed
    job_id, took = _process(world, f"thin.{kind}", data, content_type)
    # Then the job completes within seconds, and every analyzer is recorded as skipped: out
    # of its scope (faces and the ImageNet classifier on a grayscale DICOM), or with a
    # finding naming the frame's size
    job = world.jobs.get(job_id)
    assert job is not None and job.status is JobStatus.COMPLETED
    assert took < 5, f"{rows}x{columns} took {took:.1f} s"
    result = job.result or {}
    recorded = {s["name"]: s["reason"] for s in result["skippedAnalyzers"]}
    assert set(recorded) == set(ALL_ANALYZERS)
    findings = result["findings"]
    skipped = {f["source"]: f["message"] for f in findings if f["kind"] == "analyzer-skipped"}
    photograph = kind == "png" or rgb
    assert set(skipped) == (set(ALL_ANALYZERS) if photograph else {"ocr"})
    assert f"{columns}x{rows} pixels" in skipped["ocr"]
    for name, reason in recorded.items():
        expected = skipped.get(name, "grayscale medical image")
        assert expected.endswith(reason) or expected in reason, (name, reason)


def test_ocr_reads_a_thin_strip_in_seconds_not_minutes() -> None:
    # Given a strip 10 pixels high (usable: above OCR's minimum side) and very long
    strip = np.zeros((10, 5000), np.uint8)
    # When OCR reads it, then the detector's input stays bounded (a minute before)
    started = time.monotonic()
    assert BurnedInTextReader().read(strip) == ()
    assert time.monotonic() - started < 10


class _Slow:
    """An analyzer that runs far past any budget (it checks the deadline as it goes)."""

    name = "slow"

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        del frame
        for _ in range(6000):
            check_deadline()
            time.sleep(0.01)
        return AnalyzerOutput()


class _Ocr:
    """Real OCR on a large frame, so that its budget runs out inside an ONNX Runtime run."""

    name = "ocr-large"

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        del frame
        rng = np.random.default_rng(3)
        BurnedInTextReader().read(rng.integers(0, 256, (1024, 1024), dtype=np.uint8))
        return AnalyzerOutput()


def test_an_analyzer_past_its_budget_yields_a_finding_and_the_job_completes(
    world: FakeWorld,
) -> None:
    # Given an analyzer that never finishes and a budget of half a second
    processor = ImageProcessor(
        blobs=world.blobs,
        jobs=world.jobs,
        clock=world.clock,
        options=AnalysisOptions(analyzers=(_Slow(),), analyzer_timeout_s=0.5),
        lease_s=60,
    )
    # When a file is processed
    job_id, took = _process(world, "slow.png", _png(64, 64, rgb=False), "image/png", processor)
    # Then the job completes soon after the budget, with a finding naming the analyzer
    job = world.jobs.get(job_id)
    assert job is not None and job.status is JobStatus.COMPLETED
    assert took < 5
    (timeout,) = [f for f in (job.result or {})["findings"] if f["kind"] == "analyzer-timeout"]
    assert timeout["source"] == "slow"
    assert "'slow'" in timeout["message"]


def test_a_model_run_past_the_budget_is_terminated_and_no_thread_keeps_running() -> None:
    # Given OCR warmed up (model loading is not what is measured) and a tiny budget
    BurnedInTextReader().read(np.zeros((64, 64), np.uint8))
    threads_before = threading.active_count()
    frame = np.zeros((4, 4), np.uint8)
    # When a large frame's OCR runs under a 50 ms budget
    started = time.monotonic()
    raised: BaseException | None = None
    with time_budget(0.05) as budget:
        try:
            _Ocr().analyze(_input(frame))
        except Exception as exc:  # RapidOCR wraps what the session raised in its own error
            raised = exc
    took = time.monotonic() - started
    # Then it is stopped (inside ONNX Runtime), promptly, and nothing is left running
    assert budget is not None and budget.spent
    causes = []
    while raised is not None:
        causes.append(type(raised))
        raised = raised.__cause__
    assert AnalyzerTimeoutError in causes
    assert took < 2, f"the terminated run took {took:.2f} s"
    time.sleep(0.05)
    assert threading.active_count() <= threads_before


def _input(pixels: np.ndarray) -> AnalyzerInput:
    return AnalyzerInput(pixels=pixels, kind="png", summary=ImageSummary(), phi=PhiFields())
