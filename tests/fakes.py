"""In-memory implementations of the ports: small, real, and held to the same contract
suite (tests/contract/) as the local and AWS adapters.

Also: ``load_event(name)`` for the payloads in tests/events/.
"""

from __future__ import annotations

import contextlib
import copy
import json
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dicomlens.domain import jobs as job_rules
from dicomlens.domain.errors import DicomlensError, ErrorCode, IllegalTransitionError
from dicomlens.domain.jobs import Job, JobStatus
from dicomlens.ports import PresignedPost

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """The event payload ``tests/events/<name>.json``."""
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class SequentialIds:
    """Ids 000...1, 000...2, ... (32 hex digits), or a given list first."""

    def __init__(self, *first: str) -> None:
        self._first = list(first)
        self._count = 0

    def new_id(self) -> str:
        if self._first:
            return self._first.pop(0)
        self._count += 1
        return f"{self._count:032x}"


class InMemoryBlobStore:
    """Objects in a dict; URLs are ``memory://`` and record what was signed."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self._clock = clock or FakeClock()
        self._lock = threading.Lock()

    def presign_post(
        self, *, key: str, content_type: str, max_bytes: int, expires_in_s: int
    ) -> PresignedPost:
        expires_at = self._clock.now() + timedelta(seconds=expires_in_s)
        return PresignedPost(
            url="memory://uploads",
            fields={"key": key, "Content-Type": content_type, "max-bytes": str(max_bytes)},
            expires_at=expires_at,
        )

    def presign_get(self, key: str, *, expires_in_s: int, download_name: str | None = None) -> str:
        expires = int(self._clock.now().timestamp()) + expires_in_s
        name = f"&name={quote(download_name)}" if download_name else ""
        return f"memory://{quote(key)}?expires={expires}{name}"

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        del content_type
        with self._lock:
            self.objects[key] = bytes(data)

    def exists(self, key: str) -> bool:
        return key in self.objects

    @contextlib.contextmanager
    def local_copy(self, key: str, *, version_id: str | None = None) -> Iterator[Path]:
        data = self.objects.get(key)
        if data is None:
            raise DicomlensError(ErrorCode.NOT_FOUND, "no such object")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / key.rsplit("/", 1)[-1]
            path.write_bytes(data)
            yield path

    def read_range(
        self, key: str, start: int, length: int, *, version_id: str | None = None
    ) -> bytes:
        data = self.objects.get(key)
        if data is None:
            raise DicomlensError(ErrorCode.NOT_FOUND, "no such object")
        return data[start : start + max(0, length)]

    def receive_upload(self, key: str, data: bytes) -> None:
        """What a browser's form post does (test helper, not part of the port)."""
        self.put_bytes(key, data, content_type="application/octet-stream")


class InMemoryJobStore:
    """Jobs in a dict under a lock; every write conditional like the real stores."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def create(self, job: Job) -> None:
        with self._lock:
            if job.job_id in self._jobs:
                raise DicomlensError(ErrorCode.CONFLICT, "a job with this id exists")
            self._jobs[job.job_id] = copy.deepcopy(job)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else copy.deepcopy(job)

    def claim(self, job_id: str, *, now: datetime, lease_s: float) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            try:
                claimed = job_rules.claim(
                    job, now=now, lease_until=now + timedelta(seconds=lease_s)
                )
            except IllegalTransitionError:
                return None
            self._jobs[job_id] = claimed
            return copy.deepcopy(claimed)

    def finish(self, job: Job) -> bool:
        if job.status not in job_rules.TERMINAL:
            raise IllegalTransitionError(f"job {job.job_id}: finish needs a finished job")
        with self._lock:
            current = self._jobs.get(job.job_id)
            if (
                current is None
                or current.status is not JobStatus.PROCESSING
                or current.attempts != job.attempts
            ):
                return False
            self._jobs[job.job_id] = replace(copy.deepcopy(job), lease_until=None)
            return True

    def release(self, job: Job) -> bool:
        if job.status is not JobStatus.PROCESSING:
            raise IllegalTransitionError(f"job {job.job_id}: release needs a PROCESSING job")
        with self._lock:
            current = self._jobs.get(job.job_id)
            if (
                current is None
                or current.status is not JobStatus.PROCESSING
                or current.attempts != job.attempts
            ):
                return False
            self._jobs[job.job_id] = copy.deepcopy(job)
            return True

    def expire(self, job: Job) -> bool:
        if job.status is not JobStatus.EXPIRED:
            raise IllegalTransitionError(f"job {job.job_id}: expire needs an EXPIRED job")
        with self._lock:
            current = self._jobs.get(job.job_id)
            if current is None or current.status is not JobStatus.PENDING:
                return False
            self._jobs[job.job_id] = copy.deepcopy(job)
            return True


# The DICOMweb index's values (appended with the fake that uses them).
from dicomlens.dicomweb.model import (  # noqa: E402
    IndexedInstance,
    PutOutcome,
    QidoQuery,
    QueryLevel,
)


class FakeInstanceIndex:
    """The DICOMweb instance index as a dict of SOP Instance UID -> (put order, instance):
    every row is computed when read, the newest instance being the one put last."""

    def __init__(self) -> None:
        self._by_sop: dict[str, tuple[int, IndexedInstance]] = {}
        self._puts = 0
        self._lock = threading.Lock()

    def put(self, instance: IndexedInstance) -> PutOutcome:
        with self._lock:
            self._puts += 1
            replaced = instance.sop_uid in self._by_sop
            self._by_sop[instance.sop_uid] = (self._puts, copy.deepcopy(instance))
        return PutOutcome.REPLACED if replaced else PutOutcome.CREATED

    def candidates(self, query: QidoQuery) -> list[dict[str, Any]]:
        with self._lock:
            held = sorted(self._by_sop.values(), key=lambda entry: entry[0])
        instances = [
            instance
            for _, instance in held
            if (query.study_uid is None or instance.study_uid == query.study_uid)
            and (query.series_uid is None or instance.series_uid == query.series_uid)
        ]
        study_of = {i.study_uid: i.study for i in instances}  # the newest wins
        series_of = {(i.study_uid, i.series_uid): i.series for i in instances}
        if query.level is QueryLevel.INSTANCE:
            return [
                {
                    **study_of[i.study_uid],
                    **series_of[(i.study_uid, i.series_uid)],
                    **copy.deepcopy(i.instance),
                }
                for i in instances
            ]
        if query.level is QueryLevel.SERIES:
            return [
                {
                    **study_of[study_uid],
                    **series,
                    "00201209": {
                        "vr": "IS",
                        "Value": [
                            sum((i.study_uid, i.series_uid) == (study_uid, uid) for i in instances)
                        ],
                    },
                }
                for (study_uid, uid), series in series_of.items()
            ]
        rows = []
        for study_uid, study in study_of.items():
            members = [i for i in instances if i.study_uid == study_uid]
            modalities = sorted(
                {
                    str(i.series["00080060"]["Value"][0])
                    for i in members
                    if i.series.get("00080060", {}).get("Value")
                }
            )
            classes = sorted({i.sop_class_uid for i in members})
            rows.append(
                {
                    **study,
                    "00201206": {"vr": "IS", "Value": [len({i.series_uid for i in members})]},
                    "00201208": {"vr": "IS", "Value": [len(members)]},
                    "00080061": {"vr": "CS", "Value": modalities} if modalities else {"vr": "CS"},
                    "00080062": {"vr": "UI", "Value": classes},
                }
            )
        return copy.deepcopy(rows)

    def instances(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[IndexedInstance]:
        with self._lock:
            found = [
                copy.deepcopy(instance)
                for _, instance in self._by_sop.values()
                if instance.study_uid == study_uid
                and series_uid in (None, instance.series_uid)
                and sop_uid in (None, instance.sop_uid)
            ]
        return sorted(
            found,
            key=lambda i: (
                i.series_uid,
                i.instance_number is None,
                i.instance_number or 0,
                i.sop_uid,
            ),
        )

    def find_sop(self, sop_uid: str) -> IndexedInstance | None:
        with self._lock:
            entry = self._by_sop.get(sop_uid)
        return None if entry is None else copy.deepcopy(entry[1])
