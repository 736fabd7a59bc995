"""Write a job's analysis report (a Comprehensive 3D SR, see :mod:`dicomlens.reports`).

Two sources, one per request:

- ``original``: the job's upload. The report joins the upload's study as a new series, is
  stored at ``derived/{jobId}/analysis-report.dcm`` and indexed for DICOMweb (QIDO finds
  it, WADO serves it). Its UIDs derive from the job id and the source's SOP Instance UID:
  a repeat request rewrites the same instance (the index replaces it).
- ``deidentified``: the job's de-identified copy (``POST /jobs/{jobId}/deidentify`` first).
  The report copies the copy's pseudonymous patient, study and UIDs and references the
  copy's instance, so it belongs to the de-identified study; like the copy it is a
  download (``derived/{jobId}/deidentified-report.dcm``), never indexed beside the
  original study. Its UIDs derive from the copy's SOP Instance UID only, so nothing in it
  leads back to the original.

No job is made for a report: it never shows as an upload.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.jobs import Job, JobStatus
from dicomlens.domain.keys import derived_key, is_job_id
from dicomlens.domain.results import AnalysisResult
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.ports import BlobStore, Clock, JobStore
from dicomlens.reports.builder import build_report, report_uids
from dicomlens.services.deidentification import DEIDENTIFIED_NAME
from dicomlens.services.dicomweb_store import DICOM_MEDIA_TYPE, InstanceIndexer, read_instance

REPORT_NAME = "analysis-report.dcm"
REPORT_METADATA_NAME = "analysis-report-metadata.json"
DEIDENTIFIED_REPORT_NAME = "deidentified-report.dcm"


class ReportSource(StrEnum):
    """Which instance a report is made for."""

    ORIGINAL = "original"
    DEIDENTIFIED = "deidentified"


@dataclass(frozen=True, kw_only=True)
class WrittenReport:
    """Where a report is and what identifies it. ``indexed``: DICOMweb serves it (the
    original's report); else ``url`` downloads it until ``expires_at``."""

    job_id: str
    source: ReportSource
    study_uid: str
    series_uid: str
    sop_uid: str
    key: str
    indexed: bool
    regions: int
    url: str | None = None
    expires_at: datetime | None = None


class ReportService:
    """Makes the analysis reports of completed DICOM jobs."""

    def __init__(
        self,
        *,
        blobs: BlobStore,
        jobs: JobStore,
        indexer: InstanceIndexer,
        clock: Clock,
        limits: ImagingLimits,
        url_expiry_s: int,
    ) -> None:
        self._blobs = blobs
        self._jobs = jobs
        self._indexer = indexer
        self._clock = clock
        self._limits = limits
        self._expiry = url_expiry_s

    def write(self, job_id: str, *, source: ReportSource = ReportSource.ORIGINAL) -> WrittenReport:
        """Write (or rewrite: the same UIDs) the report of a completed job.

        NOT_FOUND for an unknown job; CONFLICT until the job is COMPLETED, or for
        ``deidentified`` before the job was de-identified; NOT_AN_IMAGE for a PNG or JPEG
        upload or a DICOM file without pixel data; INVALID_DICOM when the file cannot be
        referenced (no UIDs).
        """
        job = self._jobs.get(job_id) if is_job_id(job_id) else None
        if job is None:
            raise DicomlensError(ErrorCode.NOT_FOUND, "no job with this id")
        if job.status is not JobStatus.COMPLETED or job.result is None:
            raise DicomlensError(
                ErrorCode.CONFLICT, f"the job is {job.status}; report on a completed job"
            )
        result = AnalysisResult.model_validate(job.result)
        if result.kind != "dicom" or not result.has_image:
            raise DicomlensError(ErrorCode.NOT_AN_IMAGE, "only DICOM images get an analysis report")
        if source is ReportSource.DEIDENTIFIED:
            return self._write_deidentified(job, result)
        with self._blobs.local_copy(job.upload_key, version_id=job.upload_version) as path:
            instance = read_instance(path, self._limits)
        return self.write_original(job, instance, result)

    def write_original(self, job: Job, instance: Dataset, result: AnalysisResult) -> WrittenReport:
        """The report of ``result`` for the job's upload, whose data set is ``instance``
        (the processor's automatic reports call this with the data set it indexed)."""
        seed = f"dicomlens-report:{job.job_id}:{instance.get('SOPInstanceUID', '')}"
        sr = build_report(instance, result, uids=report_uids(seed), content_time=self._clock.now())
        key = derived_key(job.job_id, REPORT_NAME)
        self._store(
            sr,
            key=key,
            name=REPORT_NAME,
            index_metadata_key=derived_key(job.job_id, REPORT_METADATA_NAME),
        )
        return _written(sr, job_id=job.job_id, source=ReportSource.ORIGINAL, key=key)

    def _write_deidentified(self, job: Job, result: AnalysisResult) -> WrittenReport:
        copy_key = derived_key(job.job_id, DEIDENTIFIED_NAME)
        if not self._blobs.exists(copy_key):
            raise DicomlensError(
                ErrorCode.CONFLICT,
                "the job has no de-identified copy; POST /jobs/{jobId}/deidentify first",
            )
        with self._blobs.local_copy(copy_key) as path:
            instance = read_instance(path, self._limits)
        seed = f"dicomlens-report:deidentified:{instance.get('SOPInstanceUID', '')}"
        sr = build_report(
            instance,
            result,
            uids=report_uids(seed),
            content_time=_stored_time(instance) or self._clock.now(),
        )
        sr.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        key = derived_key(job.job_id, DEIDENTIFIED_REPORT_NAME)
        self._store(sr, key=key, name=DEIDENTIFIED_REPORT_NAME, index_metadata_key=None)
        return _written(
            sr,
            job_id=job.job_id,
            source=ReportSource.DEIDENTIFIED,
            key=key,
            url=self._blobs.presign_get(
                key,
                expires_in_s=self._expiry,
                download_name=f"{job.job_id}-{DEIDENTIFIED_REPORT_NAME}",
            ),
            expires_at=self._clock.now() + timedelta(seconds=self._expiry),
        )

    def _store(self, sr: Dataset, *, key: str, name: str, index_metadata_key: str | None) -> None:
        """Write ``sr`` as a Part 10 file to ``key``; index it (its metadata document at
        ``index_metadata_key``) when that is given."""
        with tempfile.TemporaryDirectory(prefix="dicomlens-report-") as folder:
            written = Path(folder) / name
            sr.save_as(written, enforce_file_format=True)
            self._blobs.put_bytes(key, written.read_bytes(), content_type=DICOM_MEDIA_TYPE)
            if index_metadata_key is not None:
                self._indexer.index_derived(written, blob_key=key, metadata_key=index_metadata_key)


def _written(
    sr: Dataset,
    *,
    job_id: str,
    source: ReportSource,
    key: str,
    url: str | None = None,
    expires_at: datetime | None = None,
) -> WrittenReport:
    """What identifies the report ``sr`` stored at ``key`` (indexed unless downloaded by
    ``url``)."""
    return WrittenReport(
        job_id=job_id,
        source=source,
        study_uid=str(sr.StudyInstanceUID),
        series_uid=str(sr.SeriesInstanceUID),
        sop_uid=str(sr.SOPInstanceUID),
        key=key,
        indexed=url is None,
        regions=_regions(sr),
        url=url,
        expires_at=expires_at,
    )


def has_reportable_content(result: AnalysisResult) -> bool:
    """Whether a report of ``result`` would say anything: a DICOM image with labels or
    with a finding that has a box (the processor's automatic reports)."""
    if result.kind != "dicom" or not result.has_image:
        return False
    return bool(result.labels) or any(finding.boxes for finding in result.findings)


def _stored_time(instance: object) -> datetime | None:
    """The de-identified copy's own content date and time (kept, shifted or emptied by its
    profile), so that the report adds no date the profile did not keep; None without one."""
    date = str(getattr(instance, "ContentDate", "") or getattr(instance, "StudyDate", "") or "")
    time = str(getattr(instance, "ContentTime", "") or getattr(instance, "StudyTime", "") or "")
    try:
        return datetime.strptime(f"{date}{time[:6].ljust(6, '0')}", "%Y%m%d%H%M%S")
    except ValueError:
        return None


def _regions(sr: object) -> int:
    """How many image regions the report holds (the answer says so; no PHI)."""
    count = 0
    stack = list(getattr(sr, "ContentSequence", []))
    while stack:
        item = stack.pop()
        if getattr(item, "ValueType", "") == "SCOORD":
            count += 1
        stack.extend(getattr(item, "ContentSequence", []))
    return count
