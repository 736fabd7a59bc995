"""De-identify a job's upload into ``derived/{jobId}/deidentified.dcm``.

The original upload is only read (through :meth:`BlobStore.local_copy`); the derived file's
download URL is minted when the job is read (``GET /jobs/{jobId}`` -> ``urls.deidentified``)
and in this service's answer, never stored.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from dicomlens.deid import ProfileOptions, TextLocator, deidentify_file
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.jobs import JobStatus
from dicomlens.domain.keys import derived_key, is_job_id
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.ports import BlobStore, Clock, JobStore

DEIDENTIFIED_NAME = "deidentified.dcm"


@dataclass(frozen=True, kw_only=True)
class DeidentifiedCopy:
    """Where the de-identified copy is, and a short-lived URL to it."""

    job_id: str
    key: str
    url: str
    expires_at: datetime
    pixels_redacted: bool


class DeidentificationService:
    """De-identifies completed DICOM jobs with one profile (and one key) per deployment."""

    def __init__(
        self,
        *,
        blobs: BlobStore,
        jobs: JobStore,
        clock: Clock,
        options: Callable[[], ProfileOptions],
        limits: ImagingLimits,
        locator: Callable[[], TextLocator | None],
        url_expiry_s: int,
    ) -> None:
        self._blobs = blobs
        self._jobs = jobs
        self._clock = clock
        self._options = options
        self._limits = limits
        self._locator = locator
        self._expiry = url_expiry_s

    def warm_up(self) -> None:
        """Load what a first request would: the profile's key and, when pixel text is
        searched, the text detector's models (a worker does this before taking requests, so
        that their time limit measures the work, not the loading)."""
        options = self._options()
        if options.pixel_text == "off":
            return
        detect = getattr(self._locator(), "detect", None)  # a TextFinder (OCR) has models
        if detect is not None:
            detect(np.zeros((32, 32), np.uint8))

    def deidentify(self, job_id: str) -> DeidentifiedCopy:
        """Write (or rewrite: the result is the same) the job's de-identified copy.

        NOT_FOUND for unknown jobs, CONFLICT until the job is COMPLETED or when it holds no
        DICOM, and the de-identification codes (INVALID_DICOM, DEIDENTIFICATION_FAILED,
        REDACTION_IMPOSSIBLE) when the file cannot be made safe.
        """
        job = self._jobs.get(job_id) if is_job_id(job_id) else None
        if job is None:
            raise DicomlensError(ErrorCode.NOT_FOUND, "no job with this id")
        if job.status is not JobStatus.COMPLETED:
            raise DicomlensError(
                ErrorCode.CONFLICT, f"the job is {job.status}; de-identify a completed job"
            )
        if (job.result or {}).get("kind") not in (None, "dicom"):
            raise DicomlensError(ErrorCode.CONFLICT, "only DICOM uploads can be de-identified")
        key = derived_key(job_id, DEIDENTIFIED_NAME)
        options = self._options()
        with (
            self._blobs.local_copy(job.upload_key, version_id=job.upload_version) as source,
            tempfile.TemporaryDirectory(prefix="dicomlens-deid-") as folder,
        ):
            target = Path(folder) / DEIDENTIFIED_NAME
            report = deidentify_file(
                source,
                target,
                options,
                limits=self._limits,
                locator=None if options.pixel_text == "off" else self._locator(),
            )
            self._blobs.put_bytes(key, target.read_bytes(), content_type="application/dicom")
        return DeidentifiedCopy(
            job_id=job_id,
            key=key,
            url=self._blobs.presign_get(
                key, expires_in_s=self._expiry, download_name=f"{job_id}-{DEIDENTIFIED_NAME}"
            ),
            expires_at=self._clock.now() + timedelta(seconds=self._expiry),
            pixels_redacted=report.pixels_redacted,
        )
