"""The HTTP API's request and response bodies: one camelCase base, every shape in one place.

The services return plain values (dataclasses of the domain's words); these models are the
wire shapes the handlers build from them and the OpenAPI document describes. Class names and
docstrings appear in that document: changing one changes the published API description.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from dicomlens.domain.jobs import JobStatus
from dicomlens.services.results import JobDetails


class CamelModel(BaseModel):
    """A body whose fields are camelCase on the wire (snake_case in Python accepted too)."""

    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore"
    )


class ErrorBody(CamelModel):
    """A stable error code and a human message."""

    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every error: ``{"error": {"code", "message"}}``."""

    error: ErrorBody


class CreateUploadRequest(CamelModel):
    """What the browser declares about the file it is about to upload."""

    file_name: str = Field(min_length=1, max_length=1024)
    content_type: str | None = Field(default=None, max_length=255)
    # strict: JSON true is not 1 byte, and neither 1.0 nor "1" is a byte count.
    size: int = Field(gt=0, strict=True, description="the file's exact size in bytes")


class UploadForm(CamelModel):
    """Post ``fields`` first, then the file in a part named ``file``, as multipart/form-data."""

    url: str
    fields: dict[str, str]


class CreateUploadResponse(CamelModel):
    """The new job and its upload form."""

    job_id: str
    upload: UploadForm
    expires_at: datetime
    max_bytes: int


class JobUrls(CamelModel):
    """Short-lived URLs, minted when the job is read."""

    preview: str | None = None
    thumbnail: str | None = None
    original: str | None = None
    deidentified: str | None = None  # after POST /jobs/{jobId}/deidentify
    presets: dict[str, str] = Field(default_factory=dict)


class JobView(CamelModel):
    """A job as the results API shows it."""

    job_id: str
    status: JobStatus
    file_name: str
    content_type: str
    size: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    error: ErrorBody | None = None
    result: dict[str, Any] | None = Field(
        default=None,
        description=(
            "The analysis of a COMPLETED job: kind, hasImage, summary (non-PHI values equal"
            " to the file's, including the studyInstanceUid, seriesInstanceUid,"
            " sopInstanceUid, seriesNumber and instanceNumber that place a DICOM file in its"
            " study), labels, findings, window, previewSize, windowPresets; phi only when"
            " the deployment exposes patient data."
        ),
    )
    urls: JobUrls = Field(default_factory=JobUrls)

    @classmethod
    def of(cls, details: JobDetails) -> JobView:
        """The API shape of what the results service read."""
        job = details.job
        return cls(
            job_id=job.job_id,
            status=job.status,
            file_name=job.file_name,
            content_type=job.content_type,
            size=job.size,
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            attempts=job.attempts,
            error=None
            if job.error is None
            else ErrorBody(code=job.error.code, message=job.error.message),
            result=details.result,
            urls=JobUrls(**asdict(details.urls)),
        )


class DeidentifiedResponse(CamelModel):
    """The de-identified copy of the job's file."""

    job_id: str
    url: str
    expires_at: datetime
    pixels_redacted: bool


class ReportResponse(CamelModel):
    """The analysis report (a Comprehensive 3D SR) of the job's file: its UIDs, and where
    to get it: ``wadoUrl`` (DICOMweb, the original's report) or ``url`` (a short-lived
    download, the de-identified copy's report)."""

    job_id: str
    source: Literal["original", "deidentified"]
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    regions: int
    wado_url: str | None = None
    url: str | None = None
    expires_at: datetime | None = None
