"""Wiring: the one place that builds adapters and services from :class:`Settings`.

Handlers call :func:`get_services` on their first invocation (once per cold start / worker
process); nothing is built at import time. Tests pass fakes to :func:`build_services` and
install the result with :func:`use_services`.

AWS mode loads ``dicomlens.adapters.aws.factory.build_adapters(settings, clock)``, which
returns ``(blob_store, job_store)``; it is imported only in that mode so that the local
stack never imports boto3.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from dicomlens.adapters.local.files import LocalBlobStore
from dicomlens.adapters.local.signing import Signer, load_or_create_secret
from dicomlens.adapters.local.sqlite_jobs import SqliteJobStore
from dicomlens.adapters.local.system import RandomIds, SystemClock
from dicomlens.config import Settings
from dicomlens.ports import BlobStore, Clock, IdGenerator, JobStore
from dicomlens.services.results import ResultsService
from dicomlens.services.uploads import UploadRules, UploadService

if TYPE_CHECKING:  # the imaging core (numpy, pydicom) loads only where images are processed
    from dicomlens.services.processing import ImageProcessor

AWS_FACTORY_MODULE = "dicomlens.adapters.aws.factory"


@dataclass(frozen=True, kw_only=True)
class Services:
    """Everything a handler needs, built once per process.

    The processor is built on first use, so the API functions, which never process images,
    never import the imaging core or the analyzers (cold starts stay short).
    """

    settings: Settings
    blobs: BlobStore
    jobs: JobStore
    clock: Clock
    ids: IdGenerator
    uploads: UploadService
    results: ResultsService

    @cached_property
    def processor(self) -> ImageProcessor:
        """The upload processor with the configured analyzers."""
        from dicomlens.services.processing import ImageProcessor  # noqa: PLC0415

        options = self.settings.analysis_options()
        if self.settings.rekognition:
            # Rekognition analyzers (AWS adapters; boto3 is imported only when enabled)
            aws_factory = importlib.import_module(AWS_FACTORY_MODULE)
            options = replace(
                options,
                analyzers=(*options.analyzers, *aws_factory.build_analyzers(self.settings)),
            )
        return ImageProcessor(
            blobs=self.blobs,
            jobs=self.jobs,
            clock=self.clock,
            options=options,
            lease_s=self.settings.lease_timeout_s,
        )


def local_adapters(settings: Settings, clock: Clock) -> tuple[BlobStore, JobStore]:
    """Blobs under ``data_dir/blobs``, jobs in ``data_dir/jobs.sqlite3``, signed with the
    configured secret or one generated once and kept in ``data_dir/secret.key``."""
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = (
        settings.hmac_secret.get_secret_value().encode()
        if settings.hmac_secret is not None
        else load_or_create_secret(data_dir / "secret.key")
    )
    blobs = LocalBlobStore(
        data_dir / "blobs", signer=Signer(secret), base_url=settings.base_url(), clock=clock
    )
    return blobs, SqliteJobStore(data_dir / "jobs.sqlite3")


def build_services(
    settings: Settings | None = None,
    *,
    blobs: BlobStore | None = None,
    jobs: JobStore | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
) -> Services:
    """Services for ``settings`` (default: from the environment); any port can be overridden."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    ids = ids or RandomIds()
    if blobs is None or jobs is None:
        if settings.mode == "aws":
            factory = importlib.import_module(AWS_FACTORY_MODULE)
            built_blobs, built_jobs = factory.build_adapters(settings, clock)
        else:
            built_blobs, built_jobs = local_adapters(settings, clock)
        blobs = blobs or built_blobs
        jobs = jobs or built_jobs
    return Services(
        settings=settings,
        blobs=blobs,
        jobs=jobs,
        clock=clock,
        ids=ids,
        uploads=UploadService(
            blobs=blobs,
            jobs=jobs,
            clock=clock,
            ids=ids,
            rules=UploadRules(
                max_bytes=settings.max_upload_bytes,
                allowed_content_types=settings.allowed_content_types,
                expires_in_s=settings.upload_expiry_s,
            ),
        ),
        results=ResultsService(
            blobs=blobs,
            jobs=jobs,
            url_expiry_s=settings.download_expiry_s,
            expose_phi=settings.expose_phi,
        ),
    )


_lock = threading.Lock()
_current: Services | None = None


def get_services() -> Services:
    """The process's services, built from the environment on first use."""
    global _current  # noqa: PLW0603 - one wiring per process (cold start) is the point
    if _current is None:
        with _lock:
            if _current is None:
                _current = build_services()
    return _current


def use_services(services: Services | None) -> None:
    """Install ``services`` for this process (the local runtime, tests); None forgets them."""
    global _current  # noqa: PLW0603
    with _lock:
        _current = services
