"""Read a job's results: the query path behind ``GET /jobs/{jobId}``.

URLs of derived images and of the original are minted here, at read time, and never
stored. PHI fields are removed from the result unless the deployment exposes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.jobs import Job, JobStatus
from dicomlens.domain.keys import derived_key, is_job_id, safe_file_name
from dicomlens.ports import BlobStore, JobStore

_PRESET_PREFIX = "window-"


@dataclass(frozen=True, kw_only=True)
class JobLinks:
    """Short-lived URLs to a job's files, minted when the job is read (never stored)."""

    preview: str | None = None
    thumbnail: str | None = None
    original: str | None = None
    deidentified: str | None = None  # after the job was de-identified
    presets: dict[str, str] = field(default_factory=dict)  # window preset name -> PNG


@dataclass(frozen=True, kw_only=True)
class JobDetails:
    """A job as read for its owner: the job, its result (PHI removed unless the deployment
    exposes it) and fresh URLs. The API's shape of it is ``handlers.models.JobView``."""

    job: Job
    result: dict[str, Any] | None
    urls: JobLinks


class ResultsService:
    """Reads jobs and mints their URLs."""

    def __init__(
        self, *, blobs: BlobStore, jobs: JobStore, url_expiry_s: int, expose_phi: bool
    ) -> None:
        self._blobs = blobs
        self._jobs = jobs
        self._expiry = url_expiry_s
        self._expose_phi = expose_phi

    def job_details(self, job_id: str) -> JobDetails:
        """The job ``job_id``; ``NOT_FOUND`` for unknown or ill-formed ids."""
        job = self._jobs.get(job_id) if is_job_id(job_id) else None
        if job is None:
            raise DicomlensError(ErrorCode.NOT_FOUND, "no job with this id")
        result = job.result
        if result is not None and not self._expose_phi:
            result = {name: value for name, value in result.items() if name != "phi"}
        return JobDetails(job=job, result=result, urls=self._urls(job))

    def _deidentified_url(self, job_id: str) -> str | None:
        key = derived_key(job_id, "deidentified.dcm")
        if not self._blobs.exists(key):
            return None
        name = f"{job_id}-deidentified.dcm"
        return self._blobs.presign_get(key, expires_in_s=self._expiry, download_name=name)

    def _urls(self, job: Job) -> JobLinks:
        def url(key: str, download_name: str | None = None) -> str:
            return self._blobs.presign_get(
                key, expires_in_s=self._expiry, download_name=download_name
            )

        derived = job.derived_keys
        presets = {
            name[len(_PRESET_PREFIX) : -len(".png")]: url(key)
            for name, key in sorted(derived.items())
            if name.startswith(_PRESET_PREFIX) and name.endswith(".png")
        }
        # Before the upload arrives there is no original to link to.
        original = (
            None
            if job.status is JobStatus.PENDING
            else url(job.upload_key, safe_file_name(job.file_name))
        )
        return JobLinks(
            preview=url(derived["preview.png"]) if "preview.png" in derived else None,
            thumbnail=url(derived["thumbnail.png"]) if "thumbnail.png" in derived else None,
            original=original,
            deidentified=self._deidentified_url(job.job_id),
            presets=presets,
        )
