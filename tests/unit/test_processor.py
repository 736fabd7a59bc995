"""Processing an uploaded object: claim, analyse, store derived images, finish once."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from dicomlens.analysis.pipeline import Analysis, AnalysisOptions, analyze_file
from dicomlens.dicomweb import frames
from dicomlens.dicomweb.attributes import metadata_json
from dicomlens.dicomweb.frames import FRAME_LAYOUT_NAME, layout_from_json
from dicomlens.dicomweb.rendered import DEFAULT_RENDITION_NAME, JPEG, RenderParams, render_frame
from dicomlens.domain.errors import ErrorCode, TransientError
from dicomlens.domain.jobs import JobStatus
from dicomlens.imaging import dicom_reader
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.services import dicomweb_store as dicomweb_store_module
from dicomlens.services.dicomweb_store import InstanceIndexer
from dicomlens.services.processing import ImageProcessor, UploadOutcome
from dicomlens.services.uploads import UploadRules, UploadService
from fakes import (
    FakeClock,
    FakeInstanceIndex,
    InMemoryBlobStore,
    InMemoryJobStore,
    SequentialIds,
)

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


# ---------------------------------------------------------------- leases and transient errors


def test_a_delivery_while_another_attempt_holds_the_lease_is_leased_not_done() -> None:
    """Given a job claimed by a live attempt, when its upload is delivered again, then the
    outcome says "deliver again later" (LEASED) and the job is untouched."""
    world = World()
    job_id, key = world.uploaded(CT)
    claimed = world.jobs.claim(job_id, now=world.clock.now(), lease_s=60)
    assert claimed is not None
    report = world.processor.process_upload(key)
    assert (report.outcome, report.job_id) == (UploadOutcome.LEASED, job_id)
    assert world.jobs.get(job_id) == claimed
    # After the lease ran out (the attempt died), the next delivery re-claims and completes
    world.clock.advance(61)
    assert world.processor.process_upload(key).outcome is UploadOutcome.COMPLETED
    job = world.jobs.get(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)


def test_a_transient_error_releases_the_job_instead_of_failing_it() -> None:
    """Given an analysis that hits a throttled service, then the job stays PROCESSING with its
    lease ended (RETRY), no error stored; the next delivery claims it at once."""
    calls = []

    def throttled(path: Path, options: AnalysisOptions) -> Analysis:
        calls.append(path)
        if len(calls) == 1:
            raise TransientError("Rekognition DetectLabels: throttled (ThrottlingException)")
        return analyze_file(path, options)

    world = World(analyze=throttled)
    job_id, key = world.uploaded(CT)
    report = world.processor.process_upload(key)
    assert report.outcome is UploadOutcome.RETRY
    assert report.error_code == ErrorCode.SERVICE_UNAVAILABLE
    job = world.jobs.get(job_id)
    assert job is not None
    assert (job.status, job.lease_until, job.error, job.crashes) == (
        JobStatus.PROCESSING,
        None,
        None,
        0,
    )
    assert world.processor.process_upload(key).outcome is UploadOutcome.COMPLETED


def test_a_transient_error_reading_the_job_is_retry_not_an_exception() -> None:
    world = World()
    _, key = world.uploaded(CT)

    def unavailable(job_id: str) -> None:
        raise TransientError("read job: the service is busy or unavailable (503)")

    world.jobs.get = unavailable  # type: ignore[method-assign,assignment]
    assert world.processor.process_upload(key).outcome is UploadOutcome.RETRY


@pytest.mark.parametrize(("analysis_s", "kept"), [(0.2, True), (5.0, False)])
def test_dicomweb_extras_are_kept_only_after_a_quick_analysis(
    analysis_s: float, kept: bool
) -> None:
    # Given a processor that indexes for DICOMweb, and an analysis taking analysis_s
    world = World()
    index = FakeInstanceIndex()

    def timed_analysis(path: Path, options: AnalysisOptions) -> Analysis:
        world.clock.advance(analysis_s)
        return analyze_file(path, options)

    processor = _indexing_processor(world, index, timed_analysis)
    job_id, key = world.uploaded(CT)
    # When the upload is processed
    assert processor.process_upload(key).outcome is UploadOutcome.COMPLETED
    # Then the instance is indexed either way, and its rendering and frame layout are kept
    # only when the analysis was quick (a slow file must not spend that time again)
    assert index.find_sop("1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322") is not None
    extras = {
        f"derived/{job_id}/{name}" for name in ("dicomweb-rendered-1.jpg", "dicomweb-frames.json")
    }
    assert (extras <= world.blobs.objects.keys()) is kept
    assert f"derived/{job_id}/dicomweb-metadata.json" in world.blobs.objects


@pytest.mark.parametrize("hand_over", [True, False])
def test_the_kept_rendering_is_the_rendered_answer_with_or_without_the_analysed_frame(
    hand_over: bool, tmp_path: Path
) -> None:
    # Given a processor that indexes for DICOMweb, whose analysis hands over its rendering
    # of the first frame (or not: a file whose preview frame is another one)
    world = World()

    def analysis(path: Path, options: AnalysisOptions) -> Analysis:
        done = analyze_file(path, options)
        assert done.first_frame is not None  # a one-frame CT at full resolution
        return done if hand_over else replace(done, first_frame=None)

    processor = _indexing_processor(world, FakeInstanceIndex(), analysis)
    job_id, key = world.uploaded(CT)
    assert processor.process_upload(key).outcome is UploadOutcome.COMPLETED
    # Then the kept rendering is, byte for byte, what GET .../rendered answers from the file
    source = tmp_path / "ct.dcm"
    source.write_bytes(CT)
    expected = render_frame(
        source, frame=1, params=RenderParams(), media_type=JPEG, limits=ImagingLimits()
    )
    assert world.blobs.objects[f"derived/{job_id}/{DEFAULT_RENDITION_NAME}"] == expected


def _indexing_processor(
    world: World, index: FakeInstanceIndex, analyze: Callable[[Path, AnalysisOptions], Analysis]
) -> ImageProcessor:
    """A processor of ``world``'s uploads that indexes them for DICOMweb into ``index``."""
    indexer = InstanceIndexer(
        blobs=world.blobs, index=index, clock=world.clock, limits=ImagingLimits()
    )
    return ImageProcessor(
        blobs=world.blobs,
        jobs=world.jobs,
        clock=world.clock,
        options=AnalysisOptions(),
        lease_s=60,
        analyze=analyze,
        indexer=indexer,
    )


def test_the_kept_frame_layout_comes_from_the_analysis_parse_without_another(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a processor that indexes for DICOMweb, counting parses up to the pixel data
    world = World()
    parses: list[Path] = []
    original = dicom_reader.locate_pixel_data

    def counted(path: Path, *args: object) -> dicom_reader.LocatedDicom:
        parses.append(path)
        return original(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(dicom_reader, "locate_pixel_data", counted)
    monkeypatch.setattr(frames, "locate_pixel_data", counted)
    processor = _indexing_processor(world, FakeInstanceIndex(), analyze_file)
    job_id, key = world.uploaded(CT)
    # When the upload is processed
    assert processor.process_upload(key).outcome is UploadOutcome.COMPLETED
    # Then the file was parsed up to its pixel data once (by the analysis), and the kept
    # layout is the one a parse of the same bytes gives
    assert len(parses) == 1
    kept = layout_from_json(world.blobs.objects[f"derived/{job_id}/{FRAME_LAYOUT_NAME}"])
    source = tmp_path / "ct.dcm"
    source.write_bytes(CT)
    assert kept == frames.frame_layout(source, ImagingLimits())
    assert len(parses) == 2  # that fresh parse


def test_an_upload_is_indexed_from_the_analysis_parse_with_the_metadata_a_full_parse_gives(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a processor that indexes for DICOMweb, counting full parses of the upload
    world = World()
    full_parses: list[Path] = []

    def counted(path: Path, limits: ImagingLimits) -> object:
        full_parses.append(path)
        return dicomweb_store_module.parse_dataset(path, "instance", convert="all")

    monkeypatch.setattr(dicomweb_store_module, "read_instance", counted)
    index = FakeInstanceIndex()
    processor = _indexing_processor(world, index, analyze_file)
    data = Path(str(get_testdata_file("693_UNCI.dcm"))).read_bytes()  # nothing after its pixels
    job_id, key = world.uploaded(data)
    # When it is processed
    assert processor.process_upload(key).outcome is UploadOutcome.COMPLETED
    # Then it was not parsed whole again, and its metadata document is a full parse's
    assert full_parses == []
    source = tmp_path / "ct.dcm"
    source.write_bytes(data)
    expected = metadata_json(dicomweb_store_module.read_instance(source, ImagingLimits()))
    kept = json.loads(world.blobs.objects[f"derived/{job_id}/dicomweb-metadata.json"])
    assert kept == json.loads(json.dumps(expected))
