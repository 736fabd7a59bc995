"""Process an uploaded image: claim the job, analyse the file, store derived images, finish.

Called once per S3 ObjectCreated record. Every step is safe to repeat: the claim is a
conditional PENDING -> PROCESSING transition, and finishing is conditional on the attempt,
so a repeated or late event never completes a job twice. A DICOM instance is also indexed
(study, series, instance) for DICOMweb when an indexer is given. An upload whose job already ended
(EXPIRED too) is not processed (NOT_CLAIMED: the delivery is done). One whose job another
live attempt holds is LEASED: the delivery must come again later, in case that attempt dies.
Errors about the file fail the job with their stable code; a
:class:`~dicomlens.domain.errors.TransientError` (a throttled or unavailable service, after
the client's own retries) releases the job instead (RETRY): the delivery is retried, and the
next one claims the job at once. The original is only read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from dicomlens.analysis.pipeline import Analysis, AnalysisOptions, analyze_file
from dicomlens.domain import jobs as job_rules
from dicomlens.domain.errors import DicomlensError, ErrorCode, TransientError
from dicomlens.domain.jobs import Job, JobStatus
from dicomlens.domain.keys import derived_key, job_id_from_upload_key
from dicomlens.ports import BlobStore, Clock, JobStore

if TYPE_CHECKING:  # DICOMweb's modules load only where an indexer is built
    from pydicom.dataset import Dataset

    from dicomlens.domain.results import AnalysisResult
    from dicomlens.services.dicomweb_store import InstanceIndexer
    from dicomlens.services.reports import ReportService


class UploadOutcome(StrEnum):
    """What processing one uploaded object did (metric and log names of the processor)."""

    IGNORED_KEY = "IGNORED_KEY"  # outside uploads/{jobId}/ or not the job's own key
    UNKNOWN_JOB = "UNKNOWN_JOB"
    NOT_CLAIMED = "NOT_CLAIMED"  # finished: nothing to do
    LEASED = "LEASED"  # another attempt holds the lease: deliver again later
    RETRY = "RETRY"  # a transient error: the job was released, deliver again later
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SUPERSEDED = "SUPERSEDED"  # another attempt finished the job first
    NOT_STARTED = "NOT_STARTED"  # fail_stuck: still PENDING, no attempt has claimed it
    RELEASED = "RELEASED"  # release_crashed: claimable again at once, the crash counted


@dataclass(frozen=True, kw_only=True)
class ProcessReport:
    """The outcome for one object, with the job id and error code (never file contents)."""

    outcome: UploadOutcome
    job_id: str | None = None
    error_code: str | None = None


Analyze = Callable[[Path, AnalysisOptions], Analysis]


# The analysis time under which the processor also keeps an instance's default rendering
# and frame layout for DICOMweb (each reads the file again; a DICOMweb request computes
# them itself when they are missing).
DICOMWEB_EXTRAS_WITHIN_S = 2.0

REPORT_FAILED = "analysis-report-failed"
"""The finding of a job whose automatic analysis report failed (the job still completes)."""


class ImageProcessor:
    """The processing use case behind the processImage function."""

    def __init__(
        self,
        *,
        blobs: BlobStore,
        jobs: JobStore,
        clock: Clock,
        options: AnalysisOptions,
        lease_s: float,
        analyze: Analyze = analyze_file,
        indexer: InstanceIndexer | None = None,
        reports: ReportService | None = None,
    ) -> None:
        self._blobs = blobs
        self._jobs = jobs
        self._clock = clock
        self._options = options
        self._lease_s = lease_s
        self._analyze = analyze
        self._indexer = indexer
        self._reports = reports

    def process_upload(self, key: str, *, version_id: str | None = None) -> ProcessReport:
        """Process the object stored at ``key`` (already URL-decoded), in its version
        ``version_id`` when the event names one (recorded on the job, so that a later re-post
        of the same key cannot swap the original that was analysed).

        A transient error anywhere (reading the job, the object, Rekognition, writing) is
        the RETRY outcome, never an exception and never a FAILED job.
        """
        job_id = job_id_from_upload_key(key)
        if job_id is None:
            return ProcessReport(outcome=UploadOutcome.IGNORED_KEY)
        try:
            return self._process(job_id, key, version_id)
        except TransientError as exc:
            return ProcessReport(
                outcome=UploadOutcome.RETRY, job_id=job_id, error_code=str(exc.code)
            )

    def _process(self, job_id: str, key: str, version_id: str | None) -> ProcessReport:
        job = self._jobs.get(job_id)
        if job is None:
            return ProcessReport(outcome=UploadOutcome.UNKNOWN_JOB, job_id=job_id)
        if job.upload_key != key:
            return ProcessReport(outcome=UploadOutcome.IGNORED_KEY, job_id=job_id)
        claimed = self._jobs.claim(job_id, now=self._clock.now(), lease_s=self._lease_s)
        if claimed is None:
            if job.status in job_rules.TERMINAL:
                return ProcessReport(outcome=UploadOutcome.NOT_CLAIMED, job_id=job_id)
            return ProcessReport(outcome=UploadOutcome.LEASED, job_id=job_id)
        claimed = replace(claimed, upload_version=version_id)
        try:
            finished = self._run(claimed)
        except TransientError as exc:
            self._release(claimed)
            return ProcessReport(
                outcome=UploadOutcome.RETRY, job_id=job_id, error_code=str(exc.code)
            )
        except DicomlensError as exc:
            finished = job_rules.fail(
                claimed, code=str(exc.code), message=exc.message, now=self._clock.now()
            )
        except Exception as exc:  # any bug in a decoder must end the job, not hang it
            finished = job_rules.fail(
                claimed,
                code=str(ErrorCode.INTERNAL),
                message=f"the analysis failed unexpectedly ({type(exc).__name__})",
                now=self._clock.now(),
            )
        if not self._jobs.finish(finished):
            return ProcessReport(outcome=UploadOutcome.SUPERSEDED, job_id=job_id)
        if finished.error is not None:
            return ProcessReport(
                outcome=UploadOutcome.FAILED, job_id=job_id, error_code=finished.error.code
            )
        return ProcessReport(outcome=UploadOutcome.COMPLETED, job_id=job_id)

    def unfinished(self, job_ids: Iterable[str]) -> list[Job]:
        """The named jobs that exist and are not finished yet (PENDING or PROCESSING)."""
        jobs = (self._jobs.get(job_id) for job_id in job_ids)
        return [job for job in jobs if job is not None and job.status not in job_rules.TERMINAL]

    def fail_stuck(self, job_id: str, *, code: ErrorCode, message: str) -> ProcessReport:
        """End a job whose processing attempt was stopped from outside (its worker was killed).

        A PROCESSING job becomes FAILED with ``code`` and ``message`` through the same
        conditional ``finish`` as any attempt, so it never overwrites a result that got there
        first (SUPERSEDED). A job still PENDING is NOT_STARTED: no attempt has claimed it, so
        the caller may deliver its upload again. A finished job is SUPERSEDED.
        """
        job = self._jobs.get(job_id)
        if job is None:
            return ProcessReport(outcome=UploadOutcome.UNKNOWN_JOB, job_id=job_id)
        if job.status is JobStatus.PENDING:
            return ProcessReport(outcome=UploadOutcome.NOT_STARTED, job_id=job_id)
        failed = None
        if job.status is JobStatus.PROCESSING:
            failed = job_rules.fail(job, code=str(code), message=message, now=self._clock.now())
        if failed is None or not self._jobs.finish(failed):
            return ProcessReport(outcome=UploadOutcome.SUPERSEDED, job_id=job_id)
        return ProcessReport(outcome=UploadOutcome.FAILED, job_id=job_id, error_code=str(code))

    def release_crashed(self, job_id: str, *, max_crashes: int) -> ProcessReport:
        """Release a job whose worker process died while processing it.

        A PROCESSING job has the crash counted; below ``max_crashes`` it is RELEASED (its
        lease ended, so the next delivery claims it at once), at ``max_crashes`` it ends FAILED
        with WORKER_CRASHED. Both writes are conditional on the attempt read here, so a job
        that another attempt finished or claimed meanwhile is left alone (SUPERSEDED), and a
        job ends exactly once. A PENDING job is NOT_STARTED (the worker died before claiming
        it): the caller may deliver its upload again.
        """
        job = self._jobs.get(job_id)
        if job is None:
            return ProcessReport(outcome=UploadOutcome.UNKNOWN_JOB, job_id=job_id)
        if job.status is JobStatus.PENDING:
            return ProcessReport(outcome=UploadOutcome.NOT_STARTED, job_id=job_id)
        if job.status is not JobStatus.PROCESSING:
            return ProcessReport(outcome=UploadOutcome.SUPERSEDED, job_id=job_id)
        released = job_rules.release_crashed(job, now=self._clock.now())
        if released.crashes < max_crashes:
            if not self._jobs.release(released):
                return ProcessReport(outcome=UploadOutcome.SUPERSEDED, job_id=job_id)
            return ProcessReport(outcome=UploadOutcome.RELEASED, job_id=job_id)
        failed = job_rules.fail(
            released,
            code=str(ErrorCode.WORKER_CRASHED),
            message=f"the process analysing this file stopped unexpectedly {released.crashes}"
            " times",
            now=self._clock.now(),
        )
        if not self._jobs.finish(failed):
            return ProcessReport(outcome=UploadOutcome.SUPERSEDED, job_id=job_id)
        return ProcessReport(
            outcome=UploadOutcome.FAILED, job_id=job_id, error_code=str(ErrorCode.WORKER_CRASHED)
        )

    def give_up(self, job_id: str, *, message: str) -> bool:
        """Fail a job whose upload could not be processed after repeated attempts (INTERNAL).

        Takes the job the same way a processing attempt does (PENDING, or PROCESSING with an
        expired lease), so an attempt still holding its lease is left to finish. Returns True
        when this call failed the job.
        """
        claimed = self._jobs.claim(job_id, now=self._clock.now(), lease_s=self._lease_s)
        if claimed is None:
            return False
        failed = job_rules.fail(
            claimed, code=str(ErrorCode.INTERNAL), message=message, now=self._clock.now()
        )
        return self._jobs.finish(failed)

    def _write_report(self, job: Job, instance: Dataset, result: AnalysisResult) -> AnalysisResult:
        """Write the automatic analysis report of a DICOM analysis that has something to
        report; ``result`` unchanged, or with an ``analysis-report-failed`` finding (the
        error's code, never its details) when the report could not be written: a report
        never fails the job."""
        from dicomlens.domain.results import Finding  # noqa: PLC0415
        from dicomlens.services.reports import has_reportable_content  # noqa: PLC0415

        if self._reports is None or not has_reportable_content(result):
            return result
        try:
            self._reports.write_original(job, instance, result)
        except Exception as exc:  # any failure is recorded, the job goes on
            code = str(exc.code) if isinstance(exc, DicomlensError) else str(ErrorCode.INTERNAL)
            failed = Finding(
                kind=REPORT_FAILED,
                message=f"the analysis report (DICOM SR) could not be written ({code})",
                source="reports",
            )
            return result.model_copy(update={"findings": (*result.findings, failed)})
        return result

    def _release(self, claimed: Job) -> None:
        """End this attempt's lease so the retry claims the job at once; if even that fails
        (the table is unavailable too), the lease runs out by itself."""
        with contextlib.suppress(TransientError):
            self._jobs.release(job_rules.release(claimed, now=self._clock.now()))

    def _run(self, job: Job) -> Job:
        with self._blobs.local_copy(job.upload_key, version_id=job.upload_version) as path:
            actual = path.stat().st_size
            if actual != job.size:
                raise DicomlensError(
                    ErrorCode.UPLOAD_REJECTED,
                    f"the uploaded file has {actual} bytes but {job.size} were declared",
                )
            started = self._clock.now()
            analysis = self._analyze(path, self._options)
            if self._indexer is not None:
                # a DICOM instance that parses joins its study in the index (DICOMweb); the
                # kept rendering and frame layout (conveniences that decode the file again)
                # only when the analysis was quick: a slow file must not double its time
                analysed_in = (self._clock.now() - started).total_seconds()
                extras = analysed_in <= DICOMWEB_EXTRAS_WITHIN_S
                instance = self._indexer.index_upload(
                    path,
                    job=job,
                    extras=extras,
                    first_frame=analysis.first_frame,
                    located=analysis.located,
                )
                if instance is not None and self._reports is not None:
                    analysis = replace(
                        analysis, result=self._write_report(job, instance, analysis.result)
                    )
        derived: dict[str, str] = {}
        for name, data in analysis.images.items():
            key = derived_key(job.job_id, name)
            self._blobs.put_bytes(key, data, content_type="image/png")
            derived[name] = key
        return job_rules.complete(
            job,
            result=analysis.result.to_json_dict(),
            derived_keys=derived,
            now=self._clock.now(),
        )
