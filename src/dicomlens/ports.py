"""Ports: the small protocols the services depend on. Adapters implement them.

Fakes in ``tests/fakes.py`` are real, small implementations; one contract suite runs over
the fake, the local adapter and the AWS adapter of each port.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dicomlens.domain.jobs import Job, JobStatus

if TYPE_CHECKING:  # numpy only for annotations: API handlers never load it
    import numpy as np

    # the DICOMweb index's records only for annotations: the upload API never builds them
    from dicomlens.dicomweb.model import IndexedInstance, PutOutcome, QidoQuery

    # the result models (pydantic) only for annotations: uploads never build them
    from dicomlens.domain.results import (
        Finding,
        ImageKind,
        ImageSummary,
        Label,
        PhiFields,
        TextLine,
    )


@dataclass(frozen=True, kw_only=True)
class PresignedPost:
    """Where and how a browser posts one file: multipart form ``fields`` then ``file``."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


class BlobStore(Protocol):
    """Object storage for uploads (``uploads/``) and derived files (``derived/``)."""

    def presign_post(
        self, *, key: str, content_type: str, max_bytes: int, expires_in_s: int
    ) -> PresignedPost:
        """A form upload to exactly ``key`` whose policy enforces content type, size, expiry."""
        ...

    def presign_get(self, key: str, *, expires_in_s: int, download_name: str | None = None) -> str:
        """A short-lived URL that reads ``key``. Minted at read time, never stored."""
        ...

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store ``data`` at ``key`` (used for derived files only, never for uploads)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""
        ...

    def local_copy(
        self, key: str, *, version_id: str | None = None
    ) -> AbstractContextManager[Path]:
        """A readable local file with the object's bytes for the duration of the context:
        version ``version_id`` of it when given (a store without versions ignores it).

        Raises ``DicomlensError(NOT_FOUND)`` when there is no such object.
        """
        ...

    def read_range(
        self, key: str, start: int, length: int, *, version_id: str | None = None
    ) -> bytes:
        """``length`` bytes of the object from byte ``start`` (fewer where it ends first),
        without reading the rest of it: a frame out of a large instance.

        Raises ``DicomlensError(NOT_FOUND)`` when there is no such object.
        """
        ...


class UploadIntake(Protocol):
    """Original uploads that arrive through the server (DICOMweb STOW) rather than a browser's
    presigned form: stored like a form upload, and processed like one."""

    def store_upload(self, key: str, source: Path, *, content_type: str) -> str | None:
        """Store a copy of the file ``source`` as the original upload ``key`` and start its
        processing the way a form upload does (on AWS the bucket's ObjectCreated event;
        locally the event queue). Returns the stored version id (None where the store keeps
        no versions). The key must not hold an object yet: an upload is never overwritten.
        """
        ...


class MessageRedelivery(Protocol):
    """How soon a queue delivers again a message the processor reported as not done (SQS:
    ChangeMessageVisibility). The local runtime has no such queue."""

    def delay(self, queue_arn: str, receipt_handle: str, seconds: int) -> bool:
        """Deliver the message again in ``seconds``; whether the queue accepted it (if not,
        the queue's own timeout applies)."""
        ...


class JobStore(Protocol):
    """The job table. Every state change is a conditional write."""

    def create(self, job: Job) -> None:
        """Insert a new job; ``DicomlensError(CONFLICT)`` if the id exists."""
        ...

    def get(self, job_id: str) -> Job | None:
        """The job with ``job_id`` (a consistent read), or None."""
        ...

    def claim(self, job_id: str, *, now: datetime, lease_s: float) -> Job | None:
        """PENDING (or PROCESSING with an expired lease) -> PROCESSING, atomically.

        Returns the claimed job, or None when the job is unknown, finished or leased by
        another worker (so a repeated event is a no-op).
        """
        ...

    def finish(self, job: Job) -> bool:
        """Store a COMPLETED or FAILED ``job`` only if it is still PROCESSING under the same
        attempt (``job.attempts``). Returns False when another attempt got there first, so no
        job is completed twice.
        """
        ...

    def release(self, job: Job) -> bool:
        """Store a PROCESSING ``job`` whose worker died (its crash counted, its lease ended;
        see ``jobs.release_crashed``) only if it is still PROCESSING under the same attempt.
        Returns False when the job moved on (finished, or claimed by another attempt).
        """
        ...

    def expire(self, job: Job) -> bool:
        """Store an EXPIRED ``job`` only if it is still PENDING. Returns False when it is not
        (its upload arrived and an attempt claimed it, or it already ended)."""
        ...


@runtime_checkable
class OpenJobIndex(Protocol):
    """Jobs that have not ended, by how long they have been open (the sweeper's query).

    On AWS the job table's sparse ``open-jobs`` index; see ``jobs.open_since``.
    """

    def open_job_ids(self, status: JobStatus, *, open_before: datetime) -> Iterable[str]:
        """Ids of jobs in ``status`` (PENDING or PROCESSING) whose ``open_since`` is at or
        before ``open_before``. May lag behind the table: read each job before acting."""
        ...


class InstanceIndex(Protocol):
    """The study -> series -> SOP instance index behind DICOMweb (SQLite locally, DynamoDB
    on AWS). One contract suite runs over every adapter."""

    def put(self, instance: IndexedInstance) -> PutOutcome:
        """Index ``instance``: CREATED, or REPLACED when its SOP Instance UID was indexed
        (the new record wins; its study and series attributes are the newest instance's).
        Keeps the study and series rows (attributes, counts, modalities) in step."""
        ...

    def candidates(self, query: QidoQuery) -> Iterable[dict[str, Any]]:
        """DICOM JSON rows of ``query.level`` within the query's path scope (study, series):
        each row holds its level's attributes and its parents' (the patient's and study's
        for a series), and the computed ones (NumberOfStudyRelatedSeries/Instances,
        ModalitiesInStudy, SOPClassesInStudy, NumberOfSeriesRelatedInstances).

        An adapter may narrow by the filters it has keys for, but may also return rows that
        do not match them: the caller applies every filter (one matcher for all adapters).
        Every row that matches must be returned. No order is promised.
        """
        ...

    def instances(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[IndexedInstance]:
        """The instances of a study, of one series of it, or the one instance, ordered by
        series UID, then instance number (missing last), then SOP Instance UID. An unknown
        UID gives an empty list."""
        ...

    def find_sop(self, sop_uid: str) -> IndexedInstance | None:
        """The instance with ``sop_uid`` in any study, or None."""
        ...


class Clock(Protocol):
    """The time, injectable for tests."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdGenerator(Protocol):
    """New job ids (32 lowercase hex digits)."""

    def new_id(self) -> str:
        """A fresh, unguessable id."""
        ...


@dataclass(frozen=True, kw_only=True)
class AnalyzerInput:
    """What an analyzer sees: the rendered frame and what the file says about itself.

    ``pixels`` is the displayed 8-bit picture (rows x columns, or rows x columns x 3 RGB),
    the same one the preview is made from. ``phi`` lets an analyzer recognise the patient's
    own identifiers in what it finds (burned-in text); it must never log them.
    """

    pixels: np.ndarray
    kind: ImageKind
    summary: ImageSummary
    phi: PhiFields


@dataclass(frozen=True, kw_only=True)
class AnalyzerOutput:
    """What one analyzer found. ``burned_in_text`` is PHI (it goes to ``PhiFields``)."""

    labels: tuple[Label, ...] = ()
    findings: tuple[Finding, ...] = ()
    burned_in_text: tuple[TextLine, ...] = ()


class Analyzer(Protocol):
    """Labels and findings from a rendered frame (offline models, Rekognition ...).

    Implementations are cheap, picklable values: heavy resources (model sessions) load on
    first use, once per process. An analyzer may raise; the pipeline turns the exception
    into an ``analyzer-failed`` finding and the job still completes.
    """

    @property
    def name(self) -> str:
        """A short stable name (``classifier``, ``faces``, ``ocr`` ...), used in findings."""
        ...

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        """Analyse ``frame``; boxes are relative to its width and height."""
        ...
