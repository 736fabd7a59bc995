"""STOW-RS (PS3.18 10.5): store the instances of a multipart request, index them, and queue
each one's processing exactly as a page upload is queued.

Each instance becomes a job whose original upload is the instance's bytes
(``uploads/{jobId}/{sopUid}.dcm``): the processor analyses it (preview, labels, findings)
and the index links the instance to that job. A second instance with a SOP Instance UID the
index holds replaces the first in the index (the first upload's bytes stay in storage,
untouched, and its job keeps its results). Each part is judged alone: a bad part is listed
in FailedSOPSequence with a reason, the others are stored.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from http import HTTPStatus
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from dicomlens.dicomweb.attributes import index_record, metadata_json
from dicomlens.dicomweb.frames import FRAME_LAYOUT_NAME, frame_layout, layout_to_json
from dicomlens.dicomweb.model import DicomJson, IndexedInstance
from dicomlens.dicomweb.multipart import Part
from dicomlens.dicomweb.rendered import (
    DEFAULT_RENDITION_NAME,
    JPEG,
    RenderParams,
    encode_picture,
    render_frame,
)
from dicomlens.domain import jobs as job_rules
from dicomlens.domain.errors import DicomlensError, ErrorCode, TransientError
from dicomlens.domain.jobs import Job
from dicomlens.domain.keys import derived_key, upload_key
from dicomlens.imaging.decode import locate_file
from dicomlens.imaging.dicom_dataset import parse_dataset, values_checked_already
from dicomlens.imaging.dicom_reader import LocatedDicom
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.pixel_stream import is_deflated
from dicomlens.imaging.sniff import FileKind
from dicomlens.imaging.validation import check_inflated_size
from dicomlens.imaging.whole_dataset import whole_dataset
from dicomlens.ports import BlobStore, Clock, IdGenerator, InstanceIndex, JobStore, UploadIntake

DICOM_MEDIA_TYPE = "application/dicom"
METADATA_NAME = "dicomweb-metadata.json"

# Failure Reason values (0008,1197) of PS3.18 10.5.3 / PS3.4 Annex GG (Storage statuses).
OUT_OF_RESOURCES = 0xA700  # larger than one instance may be, or no room now (retry later)
DATA_SET_MISMATCH = 0xA900  # here: the Study Instance UID differs from the request's path
CANNOT_UNDERSTAND = 0xC000  # not DICOM, not parseable, or without its UIDs
PROCESSING_FAILURE = 0x0110  # storing it failed on our side

_DICOM_KINDS = (FileKind.DICOM, FileKind.DICOM_NO_PREAMBLE)

_TAG_REFERENCED_SOP_SEQUENCE = "00081199"
_TAG_FAILED_SOP_SEQUENCE = "00081198"
_TAG_REFERENCED_SOP_CLASS = "00081150"
_TAG_REFERENCED_SOP_INSTANCE = "00081155"
_TAG_FAILURE_REASON = "00081197"
_TAG_RETRIEVE_URL = "00081190"


@dataclass(frozen=True, kw_only=True)
class StoreAnswer:
    """The store response: its HTTP status and body (PS3.18 Table 10.5.3-1)."""

    status: int
    body: DicomJson


@dataclass(frozen=True, kw_only=True)
class _Stored:
    sop_class_uid: str
    sop_uid: str
    study_uid: str
    series_uid: str


@dataclass(frozen=True, kw_only=True)
class _Failed:
    reason: int
    sop_class_uid: str | None = None
    sop_uid: str | None = None


class StoreService:
    """The STOW-RS use case behind ``POST /dicomweb/studies[/{study}]``."""

    def __init__(
        self,
        *,
        blobs: BlobStore,
        jobs: JobStore,
        index: InstanceIndex,
        intake: UploadIntake,
        clock: Clock,
        ids: IdGenerator,
        limits: ImagingLimits,
        max_instance_bytes: int,
    ) -> None:
        self._jobs = jobs
        self._intake = intake
        self._indexer = InstanceIndexer(blobs=blobs, index=index, clock=clock, limits=limits)
        self._clock = clock
        self._ids = ids
        self._limits = limits
        self._max_instance_bytes = max_instance_bytes

    def store(self, parts: Sequence[Part], *, study_uid: str | None, root_url: str) -> StoreAnswer:
        """Store every part; the answer lists each instance stored or failed.

        200 when all were stored, 202 when some failed, 409 when none was stored (PS3.18
        10.5.3). A request without any part is a VALIDATION_ERROR (400).
        """
        if not parts:
            raise DicomlensError(ErrorCode.VALIDATION_ERROR, "the request holds no instance")
        stored: list[_Stored] = []
        failed: list[_Failed] = []
        for part in parts:
            outcome = self._store_part(part, study_uid=study_uid)
            (stored if isinstance(outcome, _Stored) else failed).append(outcome)  # type: ignore[arg-type]
        return StoreAnswer(
            status=_status(stored=len(stored), failed=len(failed)),
            body=_response(stored, failed, study_uid=study_uid, root_url=root_url),
        )

    def _store_part(self, part: Part, *, study_uid: str | None) -> _Stored | _Failed:
        if _base_type(part.content_type) != DICOM_MEDIA_TYPE:
            return _Failed(reason=CANNOT_UNDERSTAND)
        if len(part.data) > self._max_instance_bytes:
            return _Failed(reason=OUT_OF_RESOURCES)
        with tempfile.TemporaryDirectory(prefix="dicomlens-stow-") as tmp:
            path = Path(tmp) / "instance.dcm"
            path.write_bytes(part.data)
            try:
                ds = read_instance(path, self._limits)
                probe = self._indexer.record_of(ds, size=len(part.data))
            except DicomlensError:
                return _Failed(reason=CANNOT_UNDERSTAND)
            if study_uid is not None and probe.study_uid != study_uid:
                return _Failed(
                    reason=DATA_SET_MISMATCH,
                    sop_class_uid=probe.sop_class_uid,
                    sop_uid=probe.sop_uid,
                )
            try:
                self._keep(path, ds, probe)
            except TransientError:  # no room now (a full disk), a throttled store: retry
                return _Failed(
                    reason=OUT_OF_RESOURCES,
                    sop_class_uid=probe.sop_class_uid,
                    sop_uid=probe.sop_uid,
                )
            except DicomlensError:
                return _Failed(
                    reason=PROCESSING_FAILURE,
                    sop_class_uid=probe.sop_class_uid,
                    sop_uid=probe.sop_uid,
                )
        return _Stored(
            sop_class_uid=probe.sop_class_uid,
            sop_uid=probe.sop_uid,
            study_uid=probe.study_uid,
            series_uid=probe.series_uid,
        )

    def _keep(self, path: Path, ds: Dataset, probe: IndexedInstance) -> None:
        """A job for the instance, its upload (which queues processing), then its metadata
        and index entry: an instance is indexed only once its bytes are stored and its
        processing is queued."""
        now = self._clock.now()
        size, sop_uid = probe.size, probe.sop_uid
        job_id = self._ids.new_id()
        key = upload_key(job_id, f"{sop_uid}.dcm")
        job = job_rules.new_job(
            job_id=job_id,
            file_name=f"{sop_uid}.dcm",
            content_type=DICOM_MEDIA_TYPE,
            size=size,
            upload_key=key,
            now=now,
        )
        self._jobs.create(job)
        version = self._intake.store_upload(key, path, content_type=DICOM_MEDIA_TYPE)
        self._indexer.index_dataset(ds, job=replace(job, upload_version=version), record=probe)


class InstanceIndexer:
    """Puts a parsed instance in the index with its metadata document (STOW, and the
    processor for page uploads)."""

    def __init__(
        self, *, blobs: BlobStore, index: InstanceIndex, clock: Clock, limits: ImagingLimits
    ) -> None:
        self._blobs = blobs
        self._index = index
        self._clock = clock
        self._limits = limits

    def index_upload(
        self,
        path: Path,
        *,
        job: Job,
        extras: bool = True,
        first_frame: np.ndarray | None = None,
        located: LocatedDicom | None = None,
    ) -> Dataset | None:
        """Index the job's uploaded file ``path`` if it is a DICOM instance with its UIDs,
        and return its data set as read (so a caller need not parse the file again); None
        (nothing indexed) for a PNG or JPEG, or a DICOM file without the UIDs an instance
        needs. An instance the index already holds from this same upload (a STOW instance
        being processed) is not written again. ``extras``: also keep its default rendering
        and frame layout; ``first_frame``, the analysis's rendering of frame 1 in the file's
        own window at full size (:attr:`~dicomlens.analysis.pipeline.Analysis.first_frame`),
        is that rendering already, so only its JPEG encoding remains; ``located``, the
        analysis's parse of this file up to its pixel data
        (:attr:`~dicomlens.analysis.pipeline.Analysis.located`), gives the data set
        (:func:`~dicomlens.imaging.whole_dataset.whole_dataset`, when it can stand for the
        file) and the frame layout without parses of their own.

        The extras read the file again, but without converting its values a second time:
        :func:`read_instance` has just converted every one of them without error, which is
        what :func:`~dicomlens.imaging.dicom_dataset.values_checked_already` asks (about a
        quarter of their time)."""
        try:
            # the analysis's parse completed when it can stand for the file, else a parse
            shared = whole_dataset(located, path) if located is not None else None
            ds = shared or read_instance(path, self._limits)  # NOT_AN_IMAGE for a PNG/JPEG
            probe = self.record_of(ds, size=job.size)
        except DicomlensError:
            return None
        held = self._index.find_sop(probe.sop_uid)
        if held is None or held.blob_key != job.upload_key:
            self.index_dataset(ds, job=job, record=probe)
        if extras:
            with values_checked_already():
                self._store_default_rendition(path, job=job, first_frame=first_frame)
                self._store_frame_layout(path, job=job, located=located)
        return ds

    def _store_frame_layout(
        self, path: Path, *, job: Job, located: LocatedDicom | None = None
    ) -> None:
        """Keep where the instance's frames lie (``/frames`` then reads them directly);
        none for an instance without readable pixel data."""
        try:
            layout = frame_layout(path, self._limits, located=located)
        except DicomlensError:
            return
        key = derived_key(job.job_id, FRAME_LAYOUT_NAME)
        self._blobs.put_bytes(key, layout_to_json(layout), content_type="application/json")

    def _store_default_rendition(
        self, path: Path, *, job: Job, first_frame: np.ndarray | None = None
    ) -> None:
        """Keep the default /rendered answer of the instance (frame 1, its own window, JPEG)
        beside the job's derived images, so that viewers' most common request is a read:
        ``first_frame`` encoded when given (the same picture), else rendered from the file.
        An instance that cannot be rendered gets none (the request renders and says why)."""
        try:
            if first_frame is not None:
                rows, columns = first_frame.shape[:2]
                picture = encode_picture(first_frame, size=(columns, rows), media_type=JPEG)
            else:
                picture = render_frame(
                    path, frame=1, params=RenderParams(), media_type=JPEG, limits=self._limits
                )
        except DicomlensError:
            return
        key = derived_key(job.job_id, DEFAULT_RENDITION_NAME)
        self._blobs.put_bytes(key, picture, content_type=JPEG)

    def record_of(self, ds: Dataset, *, size: int) -> IndexedInstance:
        """The data set's index record, before it is stored anywhere (the storage fields
        are filled in by :meth:`index_dataset`); INVALID_DICOM without the UIDs it needs."""
        return index_record(
            ds,
            blob_key="",
            blob_version=None,
            metadata_key="",
            job_id=None,
            size=size,
            stored_at=self._clock.now(),
        )

    def index_dataset(self, ds: Dataset, *, job: Job, record: IndexedInstance) -> None:
        """Write the instance's metadata document, then its index entry: ``record``
        (:meth:`record_of` the data set) linked to ``job``, whose upload holds the
        instance's bytes."""
        self._put(
            ds,
            replace(
                record,
                blob_key=job.upload_key,
                blob_version=job.upload_version,
                metadata_key=derived_key(job.job_id, METADATA_NAME),
                job_id=job.job_id,
                size=job.size,
                stored_at=self._clock.now(),
            ),
        )

    def index_derived(self, path: Path, *, blob_key: str, metadata_key: str) -> IndexedInstance:
        """Index an instance dicomlens made (an analysis report) whose bytes are already
        stored at ``blob_key`` (a copy at ``path``): its metadata document goes to
        ``metadata_key``. No job analyses it (``job_id`` None: no kept rendering, no
        ``/analysis``). A repeat with the same SOP Instance UID replaces the entry."""
        ds = read_instance(path, self._limits)
        record = replace(
            self.record_of(ds, size=path.stat().st_size),
            blob_key=blob_key,
            blob_version=None,
            metadata_key=metadata_key,
        )
        self._put(ds, record)
        return record

    def _put(self, ds: Dataset, record: IndexedInstance) -> None:
        """Write the data set's metadata document to ``record.metadata_key``, then
        ``record`` to the index (in that order: an entry never points at a missing
        document)."""
        meta = json.dumps(metadata_json(ds), separators=(",", ":")).encode()
        self._blobs.put_bytes(record.metadata_key, meta, content_type="application/dicom+json")
        self._index.put(record)


def read_instance(path: Path, limits: ImagingLimits) -> Dataset:
    """A DICOM instance's whole data set, under the same file limits as a page upload
    (size first; a deflated file is inflated once, counting, before it is parsed)."""
    source = locate_file(path, limits=limits)
    if source.kind not in _DICOM_KINDS:
        raise DicomlensError(ErrorCode.NOT_AN_IMAGE, "the file is not a DICOM file")
    if is_deflated(path):
        check_inflated_size(path, limits)
    return parse_dataset(path, "instance", convert="all")


def _base_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _status(*, stored: int, failed: int) -> int:
    if failed == 0:
        return int(HTTPStatus.OK)
    if stored == 0:
        return int(HTTPStatus.CONFLICT)
    return int(HTTPStatus.ACCEPTED)


def _uid(value: str | None) -> DicomJson:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _response(
    stored: Sequence[_Stored], failed: Sequence[_Failed], *, study_uid: str | None, root_url: str
) -> DicomJson:
    """The store response data set (PS3.18 Table 10.5.3-1) in DICOM JSON."""
    body: DicomJson = {}
    studies = {item.study_uid for item in stored}
    if study_uid is not None or len(studies) == 1:
        study = study_uid or next(iter(studies))
        body[_TAG_RETRIEVE_URL] = {"vr": "UR", "Value": [f"{root_url}/studies/{study}"]}
    if failed:
        body[_TAG_FAILED_SOP_SEQUENCE] = {
            "vr": "SQ",
            "Value": [
                {
                    _TAG_REFERENCED_SOP_CLASS: _uid(item.sop_class_uid),
                    _TAG_REFERENCED_SOP_INSTANCE: _uid(item.sop_uid),
                    _TAG_FAILURE_REASON: {"vr": "US", "Value": [item.reason]},
                }
                for item in failed
            ],
        }
    if stored:
        body[_TAG_REFERENCED_SOP_SEQUENCE] = {
            "vr": "SQ",
            "Value": [
                {
                    _TAG_REFERENCED_SOP_CLASS: _uid(item.sop_class_uid),
                    _TAG_REFERENCED_SOP_INSTANCE: _uid(item.sop_uid),
                    _TAG_RETRIEVE_URL: {
                        "vr": "UR",
                        "Value": [
                            f"{root_url}/studies/{item.study_uid}/series/{item.series_uid}"
                            f"/instances/{item.sop_uid}"
                        ],
                    },
                }
                for item in stored
            ],
        }
    return dict(sorted(body.items()))
