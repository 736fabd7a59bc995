"""QIDO-RS and WADO-RS (PS3.18 10.4, 10.6) over the instance index and the blob store.

The service answers in DICOM terms (DICOM JSON, instance files, frames); the handler turns
that into HTTP (media types, multipart bodies). Unknown UIDs are NOT_FOUND (404). URLs in
answers (RetrieveURL, BulkDataURI) start at ``root_url``, the DICOMweb root the request
came through, so they work behind any host name or stage.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from dicomlens.dicomweb.frames import (
    FRAME_LAYOUT_NAME,
    FrameLayout,
    FramesAnswer,
    layout_from_json,
    read_stored_frames,
)
from dicomlens.dicomweb.model import DicomJson, IndexedInstance, QueryLevel
from dicomlens.dicomweb.qido import parse_qido, respond
from dicomlens.dicomweb.rendered import DEFAULT_RENDITION_NAME
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.keys import derived_key
from dicomlens.imaging.dicom_dataset import values_checked_already
from dicomlens.ports import BlobStore, InstanceIndex


class DicomWebService:
    """Search, metadata and the stored instances' files, for the DICOMweb handler."""

    def __init__(self, *, blobs: BlobStore, index: InstanceIndex, max_results: int) -> None:
        self._blobs = blobs
        self._index = index
        self._max_results = max_results

    def search(
        self,
        level: QueryLevel,
        params: Sequence[tuple[str, str]],
        *,
        root_url: str,
        study_uid: str | None = None,
        series_uid: str | None = None,
    ) -> tuple[list[DicomJson], bool]:
        """The matches of a QIDO-RS query (``params``: its decoded query pairs), and whether
        more matched than were returned (the limit was capped at ``max_results``).

        A study or series named in the path that the index does not hold is NOT_FOUND,
        as for the other resources under it; a query that matches nothing is an empty list.
        """
        query = parse_qido(level, params, study_uid=study_uid, series_uid=series_uid)
        rows = self._index.candidates(query)
        found, truncated = respond(
            rows, query, max_results=self._max_results, retrieve_root=root_url
        )
        if not found and study_uid is not None:
            self.instances(study_uid, series_uid)  # an empty answer, or NOT_FOUND
        return found, truncated

    def instances(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[IndexedInstance]:
        """The indexed instances of the study, series or instance; NOT_FOUND when none."""
        found = self._index.instances(study_uid, series_uid, sop_uid)
        if not found:
            raise DicomlensError(ErrorCode.NOT_FOUND, _not_found(series_uid, sop_uid))
        return found

    def metadata_json(
        self,
        study_uid: str,
        series_uid: str | None = None,
        sop_uid: str | None = None,
        *,
        root_url: str,
    ) -> bytes:
        """WADO-RS metadata of every instance in scope, bulk data as absolute BulkDataURIs,
        as the JSON array's bytes. The stored documents are not parsed: they are compact
        JSON written by the indexer, whose only relative URIs are ``"BulkDataURI":"bulk/``
        values."""
        parts = []
        for instance in self.instances(study_uid, series_uid, sop_uid):
            with self._blobs.local_copy(instance.metadata_key) as path:
                document = path.read_bytes()
            absolute = _RELATIVE_BULK.replace("bulk/", f"{instance_url(root_url, instance)}/bulk/")
            parts.append(document.replace(_RELATIVE_BULK.encode(), absolute.encode()))
        return b"[" + b",".join(parts) + b"]"

    @contextmanager
    def instance_file(self, instance: IndexedInstance) -> Iterator[Path]:
        """The stored instance as a readable local file for the duration of the context.

        Its values are not converted again when it is read in the context: every one of
        them was converted without error when the instance was indexed (``read_instance``),
        and its stored bytes do not change (a version; locally, never overwritten)."""
        with (
            self._blobs.local_copy(instance.blob_key, version_id=instance.blob_version) as path,
            values_checked_already(),
        ):
            yield path

    def default_rendition(self, instance: IndexedInstance) -> bytes | None:
        """The instance's default /rendered answer kept when it was processed, or None
        (not processed yet, or not renderable: the caller renders)."""
        return self._kept(instance, DEFAULT_RENDITION_NAME)

    def frame_layout(self, instance: IndexedInstance) -> FrameLayout | None:
        """Where the instance's frames lie, as kept when it was processed; None when not
        kept (not processed yet: the caller reads the file)."""
        kept = self._kept(instance, FRAME_LAYOUT_NAME)
        if kept is None:
            return None
        try:
            return layout_from_json(kept)
        except DicomlensError:
            return None

    def _kept(self, instance: IndexedInstance, name: str) -> bytes | None:
        """The derived file ``name`` the instance's processing job kept, or None."""
        if instance.job_id is None:
            return None
        try:
            with self._blobs.local_copy(derived_key(instance.job_id, name)) as path:
                return path.read_bytes()
        except DicomlensError:
            return None

    def stored_frames(
        self,
        instance: IndexedInstance,
        layout: FrameLayout,
        numbers: Sequence[int],
        *,
        transfer_syntax: str | None,
        max_bytes: int,
    ) -> FramesAnswer | None:
        """The frames as stored, read by ranges of the stored object (never the whole of a
        large instance), when the stored encoding is what is asked for; None when they
        must be decoded from the file (see :func:`~dicomlens.dicomweb.frames.read_frames`)."""

        def read(offset: int, length: int) -> bytes:
            return self._blobs.read_range(
                instance.blob_key, offset, length, version_id=instance.blob_version
            )

        return read_stored_frames(
            read, layout, numbers, transfer_syntax=transfer_syntax, max_bytes=max_bytes
        )

    def job_of(self, study_uid: str, series_uid: str, sop_uid: str) -> str:
        """The id of the processing job that analyses the instance (its preview, labels and
        findings are that job's results); NOT_FOUND when the instance has none."""
        (instance,) = self.instances(study_uid, series_uid, sop_uid)
        if instance.job_id is None:
            raise DicomlensError(ErrorCode.NOT_FOUND, "no analysis is linked to this instance")
        return instance.job_id


# How a relative BulkDataURI starts in a compact JSON document. A string value cannot hold
# this text: its quotes would be escaped (\").
_RELATIVE_BULK = '"BulkDataURI":"bulk/'


def instance_url(root_url: str, instance: IndexedInstance) -> str:
    """The instance's WADO-RS URL under ``root_url``."""
    return (
        f"{root_url}/studies/{instance.study_uid}/series/{instance.series_uid}"
        f"/instances/{instance.sop_uid}"
    )


def _not_found(series_uid: str | None, sop_uid: str | None) -> str:
    if sop_uid is not None:
        return "no such instance"
    if series_uid is not None:
        return "no such series"
    return "no such study"
