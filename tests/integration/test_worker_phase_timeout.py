"""A worker killed while an analyzer ignores its budget fails the job PROCESSING_TIMEOUT, not
DECODE_TIMEOUT: the pool's hard limit covers decoding, each analyzer's budget and a grace,
and the worker announces the phase it is in.

The processor double (the real processing service and pipeline, with one analyzer that hangs
in code the budget cannot stop) lives in this module; the spawned workers import it by name.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_file

from dicomlens import bootstrap
from dicomlens.analysis.pipeline import AnalysisOptions
from dicomlens.config import PROCESSING_GRACE_S, Settings
from dicomlens.domain.jobs import TERMINAL, JobStatus
from dicomlens.domain.keys import decode_event_key
from dicomlens.local.event_queue import EventQueue
from dicomlens.local.s3_events import object_created_event
from dicomlens.local.workers import WorkerPool, queue_path
from dicomlens.ports import AnalyzerInput, AnalyzerOutput
from dicomlens.services.processing import ImageProcessor

CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
DECODE_TIMEOUT_S = 0.5
ANALYZER_TIMEOUT_S = 0.5


class _Stuck:
    """An analyzer stuck in code that neither checks its deadline nor runs a model."""

    name = "stuck"

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        del frame
        time.sleep(3600)
        return AnalyzerOutput()


_processor: ImageProcessor | None = None


def processor_double(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The processImage handler's work with the stuck analyzer."""
    del context
    global _processor  # noqa: PLW0603 - one processor per worker process, like the handler's
    services = bootstrap.get_services()
    if _processor is None:
        _processor = ImageProcessor(
            blobs=services.blobs,
            jobs=services.jobs,
            clock=services.clock,
            options=AnalysisOptions(analyzers=(_Stuck(),), analyzer_timeout_s=ANALYZER_TIMEOUT_S),
            lease_s=services.settings.lease_timeout_s,
        )
    for record in event["Records"]:
        _processor.process_upload(decode_event_key(record["s3"]["object"]["key"]))
    return {}


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[tuple[WorkerPool, Settings]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        decode_timeout_s=DECODE_TIMEOUT_S,
        analyzer_timeout_s=ANALYZER_TIMEOUT_S,
        analyzers=("ocr",),  # one analyzer's budget in the limit, as the double has one
        workers=1,
        worker_kind="process",
    )
    bootstrap.use_services(bootstrap.build_services(settings))
    started = WorkerPool(
        settings=settings, handler_name=f"{__name__}.processor_double", size=1, kind="process"
    )
    started.start()
    try:
        yield started, settings
    finally:
        started.stop(grace_s=0)
        bootstrap.use_services(None)


def test_a_worker_killed_in_the_analyzers_fails_the_job_processing_timeout(
    pool: tuple[WorkerPool, Settings],
) -> None:
    workers, settings = pool
    # Given a limit that covers decoding, the one analyzer's budget and the grace
    limit = workers.job_limit_s
    assert limit == pytest.approx(DECODE_TIMEOUT_S + ANALYZER_TIMEOUT_S + PROCESSING_GRACE_S)
    services = bootstrap.get_services()
    grant = services.uploads.create_upload(
        file_name="ct.dcm", content_type="application/dicom", size=len(CT)
    )
    key = grant.post.fields["key"]
    services.blobs.put_bytes(key, CT, content_type="application/dicom")
    assert EventQueue(queue_path(settings)).put(
        key, object_created_event(key=key, size=len(CT), etag="")
    )
    workers.notify()
    # When its analyzer hangs past the limit, then the job fails, naming the analyzers
    deadline = time.monotonic() + limit + 30
    while True:
        job = services.jobs.get(grant.job_id)
        assert job is not None
        if job.status in TERMINAL:
            break
        assert time.monotonic() < deadline, job.status
        time.sleep(0.1)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.code == "PROCESSING_TIMEOUT"
    assert "in the analyzers" in job.error.message
