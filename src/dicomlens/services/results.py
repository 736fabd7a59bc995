"""Read a job's results: the query path behind ``GET /jobs/{jobId}``.

URLs of derived images and of the original are minted here, at read time, and never
stored. PHI fields are removed from the result unless the deployment exposes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dicomlens.domain import jobs as job_rules
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.jobs import Job, JobStatus
from dicomlens.domain.keys import derived_key, is_job_id, safe_file_name
from dicomlens.ports import BlobStore, Clock, JobStore

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
        self,
        *,
        blobs: BlobStore,
        jobs: JobStore,
        clock: Clock,
        url_expiry_s: int,
        expose_phi: bool,
        upload_grace_s: float,
    ) -> None:
        self._blobs = blobs
        self._jobs = jobs
        self._clock = clock
        self._expiry = url_expiry_s
        self._expose_phi = expose_phi
        self._upload_grace_s = upload_grace_s

    def job_details(self, job_id: str) -> JobDetails:
        """The job ``job_id``; ``NOT_FOUND`` for unknown or ill-formed ids.

        A PENDING job whose upload form expired more than ``upload_grace_s`` ago is ended
        EXPIRED first (see :meth:`expire_if_abandoned`).
        """
        job = self._jobs.get(job_id) if is_job_id(job_id) else None
        if job is None:
            raise DicomlensError(ErrorCode.NOT_FOUND, "no job with this id")
        job = self.expire_if_abandoned(job)
        result = job.result
        if result is not None and not self._expose_phi:
            result = {name: value for name, value in result.items() if name != "phi"}
        return JobDetails(job=job, result=result, urls=self._urls(job))

    def expire_if_abandoned(self, job: Job) -> Job:
        """``job`` as it stands after ending it EXPIRED if its upload never arrived: PENDING,
        its form expired more than ``upload_grace_s`` ago, and no object at its upload key.

        The write is conditional on PENDING, so an upload claimed meanwhile wins; the job is
        then read again. An upload that arrives after this is not processed (the job ended).
        """
        now = self._clock.now()
        if not job_rules.upload_overdue(job, now=now, margin_s=self._upload_grace_s):
            return job
        if self._blobs.exists(job.upload_key):  # arrived, waiting for a worker
            return job
        expired = job_rules.expire(job, now=now)
        if self._jobs.expire(expired):
            return expired
        return self._jobs.get(job.job_id) or job

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
        # Before the upload arrives there is no original to link to (nor after it expired).
        original = (
            None
            if job.status in (JobStatus.PENDING, JobStatus.EXPIRED)
            else url(job.upload_key, safe_file_name(job.file_name))
        )
        return JobLinks(
            preview=url(derived["preview.png"]) if "preview.png" in derived else None,
            thumbnail=url(derived["thumbnail.png"]) if "thumbnail.png" in derived else None,
            original=original,
            deidentified=self._deidentified_url(job.job_id),
            presets=presets,
        )
