"""Uploads that arrive through the server (DICOMweb STOW), stored and queued locally the way
the upload endpoint stores and queues a browser's form upload."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from dicomlens.adapters.local.files import LocalBlobStore
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.local.event_queue import EventQueue
from dicomlens.local.s3_events import object_created_event

_CHUNK = 1 << 20


class LocalUploadIntake:
    """Writes an upload into the blob store (durably, atomically) and commits its
    ObjectCreated event to the durable queue before returning, so that a stored instance is
    never left unprocessed. Workers poll the queue (see :mod:`dicomlens.local.workers`)."""

    def __init__(self, blobs: LocalBlobStore, queue: EventQueue) -> None:
        self._blobs = blobs
        self._queue = queue

    def store_upload(self, key: str, source: Path, *, content_type: str) -> str | None:
        """Store ``source`` at ``key`` and queue its processing; CONFLICT when ``key`` holds
        an object already. The local store keeps no versions: returns None."""
        del content_type
        target = self._blobs.path_of(key)
        if target.exists():
            raise DicomlensError(ErrorCode.CONFLICT, "an upload is already stored there")
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        with self._blobs.open_atomic(target) as out, source.open("rb") as data:
            while chunk := data.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        event = object_created_event(
            key=key, size=size, etag=digest.hexdigest(), sequencer=time.time_ns()
        )
        self._queue.put(key, event)
        return None
