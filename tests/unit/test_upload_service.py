"""Creating an upload: what the browser may declare, and what the server decides."""

from __future__ import annotations

import pytest

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.jobs import JobStatus
from dicomlens.services.uploads import UploadRules, UploadService
from fakes import FakeClock, InMemoryBlobStore, InMemoryJobStore, SequentialIds

RULES = UploadRules(
    max_bytes=1000, allowed_content_types=("application/dicom", "image/png"), expires_in_s=60
)


def service() -> tuple[UploadService, InMemoryJobStore]:
    clock = FakeClock()
    jobs = InMemoryJobStore()
    uploads = UploadService(
        blobs=InMemoryBlobStore(clock), jobs=jobs, clock=clock, ids=SequentialIds(), rules=RULES
    )
    return uploads, jobs


def test_a_valid_declaration_opens_a_pending_job_with_a_server_chosen_key() -> None:
    uploads, jobs = service()
    grant = uploads.create_upload(
        file_name="../../etc/pass wd.dcm", content_type="application/dicom", size=10
    )
    job = jobs.get(grant.job_id)
    assert job is not None
    assert job.status is JobStatus.PENDING
    assert job.upload_key == f"uploads/{grant.job_id}/pass_wd.dcm"
    assert grant.post.fields["key"] == job.upload_key
    assert job.file_name == "../../etc/pass wd.dcm", "the original name is kept for display"


def test_content_type_defaults_and_is_normalised() -> None:
    uploads = UploadService(
        blobs=InMemoryBlobStore(),
        jobs=InMemoryJobStore(),
        clock=FakeClock(),
        ids=SequentialIds(),
        rules=UploadRules(
            max_bytes=10,
            allowed_content_types=("application/octet-stream", "image/png"),
            expires_in_s=60,
        ),
    )
    assert (
        uploads.create_upload(file_name="a", content_type="", size=1).post.fields["Content-Type"]
        == "application/octet-stream"
    )
    assert (
        uploads.create_upload(
            file_name="a.png", content_type="Image/PNG; charset=x", size=1
        ).post.fields["Content-Type"]
        == "image/png"
    )


@pytest.mark.parametrize(
    ("name", "content_type", "size", "code"),
    [
        ("a.dcm", "application/dicom", 1001, ErrorCode.TOO_LARGE),
        ("a.dcm", "application/dicom", 0, ErrorCode.VALIDATION_ERROR),
        ("a.exe", "application/x-msdownload", 10, ErrorCode.VALIDATION_ERROR),
        ("   ", "application/dicom", 10, ErrorCode.VALIDATION_ERROR),
        ("a\x00.dcm", "application/dicom", 10, ErrorCode.VALIDATION_ERROR),
    ],
)
def test_bad_declarations_are_refused_without_a_job(
    name: str, content_type: str, size: int, code: ErrorCode
) -> None:
    uploads, jobs = service()
    with pytest.raises(DicomlensError) as caught:
        uploads.create_upload(file_name=name, content_type=content_type, size=size)
    assert caught.value.code is code
    assert jobs.get(f"{1:032x}") is None


def test_the_form_allows_no_more_than_the_declared_size() -> None:
    uploads, _ = service()
    grant = uploads.create_upload(file_name="a.dcm", content_type="application/dicom", size=42)
    assert grant.post.fields["max-bytes"] == "42"
    assert grant.max_bytes == 1000
