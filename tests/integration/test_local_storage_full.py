"""A full disk while a job is processed: the job waits (released, PENDING) and is retried
with a back-off that never gives up on the file, then completes once there is room; a
STOW-RS instance fails "out of resources" and is stored once there is room."""

from __future__ import annotations

import errno
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_file

from dicomlens import bootstrap
from dicomlens.config import Settings
from dicomlens.dicomweb.multipart import Part
from dicomlens.domain.jobs import TERMINAL, JobStatus
from dicomlens.local.event_queue import EventQueue
from dicomlens.local.s3_events import object_created_event
from dicomlens.local.workers import MAX_DELIVERIES, Consumer, queue_path

CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
HANDLER = "dicomlens.handlers.process_image.handler"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[bootstrap.Services]:
    """The local services over a fresh data directory, installed for this process."""
    settings = Settings(data_dir=tmp_path / "data", analyzers=(), worker_kind="thread")
    built = bootstrap.build_services(settings)
    bootstrap.use_services(built)
    try:
        yield built
    finally:
        bootstrap.use_services(None)


class Disk:
    """Whether the data directory's disk has room for a new file (``full`` toggles it)."""

    def __init__(self) -> None:
        self.full = False


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    """A disk that refuses new files (``ENOSPC``) while ``full`` is set."""
    state = Disk()
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args: Any, **kwargs: Any) -> Any:
        if state.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    return state


def test_a_job_meeting_a_full_disk_waits_and_completes_once_there_is_room(
    services: bootstrap.Services, disk: Disk
) -> None:
    settings = services.settings
    queue = EventQueue(queue_path(settings))
    grant = services.uploads.create_upload(
        file_name="ct.dcm", content_type="application/dicom", size=len(CT)
    )
    job = services.jobs.get(grant.job_id)
    assert job is not None
    services.blobs.put_bytes(job.upload_key, CT, content_type="application/dicom")
    assert queue.put(
        job.upload_key, object_created_event(key=job.upload_key, size=len(CT), etag="")
    )
    consumer = Consumer(
        settings=settings,
        handler_name=HANDLER,
        waker=threading.Semaphore(0),
        stop=threading.Event(),
    )
    # Given a disk with no room for the job's outputs (previews, DICOMweb files)
    disk.full = True
    # When the event is delivered more times than a crashing file is allowed
    waits = []
    for _ in range(MAX_DELIVERIES + 3):
        delivery = queue.lease(lease_s=60, now=time.time() + 10_000)  # whatever its wait
        assert delivery is not None
        consumer.deliver(delivery)
        # Then the job is released each time (its lease ended, no crash counted), never
        # failed, and the event waits longer each time
        released = services.jobs.get(grant.job_id)
        assert released is not None
        assert released.status not in TERMINAL
        assert released.error is None
        assert released.lease_until is None or released.lease_until <= datetime.now(UTC)
        wait = queue.next_visible_in()
        assert wait is not None
        waits.append(wait)
    assert waits[0] == pytest.approx(2, abs=0.5)
    assert waits[1] == pytest.approx(4, abs=0.5)
    assert waits[-1] == pytest.approx(60, abs=0.5)  # at most a minute apart
    # And once there is room, the next delivery completes the job
    disk.full = False
    delivery = queue.lease(lease_s=60, now=time.time() + 10_000)
    assert delivery is not None
    consumer.deliver(delivery)
    assert services.jobs.status(grant.job_id) is JobStatus.COMPLETED
    assert len(queue) == 0


def test_a_stow_instance_meeting_a_full_disk_fails_out_of_resources(
    services: bootstrap.Services, disk: Disk
) -> None:
    mr = Path(str(get_testdata_file("MR_small.dcm"))).read_bytes()
    # Given a data directory with no room for the instance
    disk.full = True
    part = Part(content_type="application/dicom", headers=(), data=mr)
    answer = services.stow.store([part], study_uid=None, root_url="http://x/dicomweb")
    # Then it failed with PS3.18's "out of resources" (A700: the server's side, retry
    # later), not "processing failure" (0110)
    assert answer.status == 409
    (failed,) = answer.body["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xA700]
    # And once there is room, the same instance is stored
    disk.full = False
    again = services.stow.store([part], study_uid=None, root_url="http://x/dicomweb")
    assert again.status == 200
