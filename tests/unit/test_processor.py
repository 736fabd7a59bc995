"""Processing an uploaded object: claim, analyse, store derived images, finish once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from dicomlens.analysis.pipeline import Analysis, AnalysisOptions
from dicomlens.domain.errors import ErrorCode
from dicomlens.domain.jobs import JobStatus
from dicomlens.services.processing import ImageProcessor, UploadOutcome
from dicomlens.services.uploads import UploadRules, UploadService
from fakes import FakeClock, InMemoryBlobStore, InMemoryJobStore, SequentialIds

CT = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()


class World:
    def __init__(self, **processor_args: object) -> None:
        self.clock = FakeClock()
        self.blobs = InMemoryBlobStore(self.clock)
        self.jobs = InMemoryJobStore()
        self.uploads = UploadService(
            blobs=self.blobs,
            jobs=self.jobs,
            clock=self.clock,
            ids=SequentialIds(),
            rules=UploadRules(
                max_bytes=1 << 20,
                allowed_content_types=("application/dicom",),
                expires_in_s=60,
            ),
        )
        self.processor = ImageProcessor(
            blobs=self.blobs,
            jobs=self.jobs,
            clock=self.clock,
            options=AnalysisOptions(window_presets=True),
            lease_s=60,
            **processor_args,  # type: ignore[arg-type]
        )

    def uploaded(self, data: bytes, *, declared: int | None = None) -> tuple[str, str]:
        grant = self.uploads.create_upload(
            file_name="CT small.dcm", content_type="application/dicom", size=declared or len(data)
        )
        key = grant.post.fields["key"]
        self.blobs.receive_upload(key, data)
        return grant.job_id, key


def test_an_uploaded_ct_completes_with_previews_beside_the_untouched_original() -> None:
    world = World()
    job_id, key = world.uploaded(CT)
    report = world.processor.process_upload(key)
    assert report.outcome is UploadOutcome.COMPLETED
    job = world.jobs.get(job_id)
    assert job is not None
    assert job.status is JobStatus.COMPLETED
    assert job.result is not None
    assert job.result["summary"]["modality"] == "CT"
    assert set(job.derived_keys) >= {"preview.png", "thumbnail.png", "window-lung.png"}
    assert all(k.startswith(f"derived/{job_id}/") for k in job.derived_keys.values())
    assert world.blobs.objects[job.derived_keys["preview.png"]].startswith(b"\x89PNG")
    assert world.blobs.objects[key] == CT


def test_a_repeated_event_changes_nothing() -> None:
    world = World()
    job_id, key = world.uploaded(CT)
    world.processor.process_upload(key)
    before = world.jobs.get(job_id)
    assert world.processor.process_upload(key).outcome is UploadOutcome.NOT_CLAIMED
    assert world.jobs.get(job_id) == before


@pytest.mark.parametrize(
    ("key", "outcome"),
    [
        ("derived/0123456789abcdef0123456789abcdef/preview.png", UploadOutcome.IGNORED_KEY),
        ("uploads/../secret", UploadOutcome.IGNORED_KEY),
        ("uploads/0123456789abcdef0123456789abcdef/x.dcm", UploadOutcome.UNKNOWN_JOB),
    ],
)
def test_objects_without_a_job_are_ignored(key: str, outcome: UploadOutcome) -> None:
    assert World().processor.process_upload(key).outcome is outcome


def test_an_object_at_another_key_of_the_job_is_ignored() -> None:
    world = World()
    job_id, _ = world.uploaded(CT)
    other = f"uploads/{job_id}/other.dcm"
    world.blobs.receive_upload(other, CT)
    assert world.processor.process_upload(other).outcome is UploadOutcome.IGNORED_KEY
    job = world.jobs.get(job_id)
    assert job is not None
    assert job.status is JobStatus.PENDING


def test_a_file_that_is_not_the_declared_size_fails_the_job() -> None:
    world = World()
    job_id, key = world.uploaded(CT, declared=len(CT) + 1)
    report = world.processor.process_upload(key)
    assert report.outcome is UploadOutcome.FAILED
    job = world.jobs.get(job_id)
    assert job is not None
    assert job.error is not None
    assert job.error.code == "UPLOAD_REJECTED"


def test_a_non_image_fails_with_the_pipeline_code_and_message() -> None:
    world = World()
    job_id, key = world.uploaded(b"just some text, no image at all" * 10)
    assert world.processor.process_upload(key).outcome is UploadOutcome.FAILED
    job = world.jobs.get(job_id)
    assert job is not None
    assert job.error is not None
    assert job.error.code == "NOT_AN_IMAGE"
    assert job.error.message


def test_an_unexpected_crash_fails_the_job_without_details() -> None:
    def broken(path: Path, options: AnalysisOptions) -> Analysis:
        raise RuntimeError("secret patient name in a message")

    world = World(analyze=broken)
    job_id, key = world.uploaded(CT)
    assert world.processor.process_upload(key).error_code == "INTERNAL"
    job = world.jobs.get(job_id)
    assert job is not None
    assert job.error is not None
    assert "patient" not in job.error.message


def test_a_stale_attempt_cannot_overwrite_the_current_one() -> None:
    world = World()
    job_id, key = world.uploaded(CT)
    stale = world.jobs.claim(job_id, now=world.clock.now(), lease_s=1)
    assert stale is not None
    world.clock.advance(2)
    assert world.processor.process_upload(key).outcome is UploadOutcome.COMPLETED
    job = world.jobs.get(job_id)
    assert job is not None
    assert job.attempts == 2


def test_a_job_whose_worker_was_killed_fails_once_with_the_given_code() -> None:
    # Given a job an attempt claimed before its worker was killed over the time limit
    world = World()
    job_id, _ = world.uploaded(CT)
    world.jobs.claim(job_id, now=world.clock.now(), lease_s=60)
    # When the pool asks the processor to end it
    report = world.processor.fail_stuck(
        job_id, code=ErrorCode.DECODE_TIMEOUT, message="processing took over 5 s"
    )
    # Then it is FAILED with that code, and asking again changes nothing
    assert report.outcome is UploadOutcome.FAILED
    job = world.jobs.get(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "DECODE_TIMEOUT"
    again = world.processor.fail_stuck(job_id, code=ErrorCode.INTERNAL, message="x")
    assert again.outcome is UploadOutcome.SUPERSEDED
    assert world.jobs.get(job_id) == job


def test_a_job_not_yet_started_is_not_failed_as_stuck() -> None:
    world = World()
    job_id, _ = world.uploaded(CT)
    report = world.processor.fail_stuck(job_id, code=ErrorCode.DECODE_TIMEOUT, message="x")
    assert report.outcome is UploadOutcome.NOT_STARTED
    job = world.jobs.get(job_id)
    assert job is not None and job.status is JobStatus.PENDING
    unknown = world.processor.fail_stuck("0" * 32, code=ErrorCode.DECODE_TIMEOUT, message="x")
    assert unknown.outcome is UploadOutcome.UNKNOWN_JOB


def test_giving_up_fails_a_pending_job_but_spares_one_under_a_live_lease() -> None:
    world = World()
    pending_id, _ = world.uploaded(CT)
    leased_id, _ = world.uploaded(CT)
    world.jobs.claim(leased_id, now=world.clock.now(), lease_s=60)
    # When the pool gives up on both after repeated crashes
    assert world.processor.give_up(pending_id, message="crashed repeatedly") is True
    assert world.processor.give_up(leased_id, message="crashed repeatedly") is False
    # Then only the job nobody holds is FAILED (INTERNAL); unfinished lists the other
    pending = world.jobs.get(pending_id)
    assert pending is not None and pending.error is not None
    assert (pending.status, pending.error.code) == (JobStatus.FAILED, "INTERNAL")
    assert [job.job_id for job in world.processor.unfinished([pending_id, leased_id])] == [
        leased_id
    ]
