"""Wiring: the one place that builds adapters, analyzers and services from :class:`Settings`.

Handlers call :func:`get_services` on their first invocation (once per cold start / worker
process); nothing is built at import time, except in a Lambda execution environment, where
the handler module named by ``_HANDLER`` builds them while it is imported
(:func:`build_during_lambda_init`: init runs on a full vCPU, the first request may not).
Tests pass fakes to :func:`build_services` and install the result with :func:`use_services`.
The command-line tools take their pipeline options (:func:`analysis_options`) and
de-identification key (:func:`deid_key`) from here too.

AWS mode loads ``dicomlens.adapters.aws.factory`` (S3 and DynamoDB adapters, Rekognition
analyzers, the Secrets Manager key); it is imported only where needed so that the local
stack never imports boto3.
"""

from __future__ import annotations

import functools
import gc
import importlib
import logging
import os
import threading
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from dicomlens.adapters.local.system import RandomIds, SystemClock
from dicomlens.config import Settings
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.ports import (
    BlobStore,
    Clock,
    IdGenerator,
    InstanceIndex,
    JobStore,
    MessageRedelivery,
    OpenJobIndex,
    UploadIntake,
)
from dicomlens.services.results import ResultsService
from dicomlens.services.sweeping import JobSweeper
from dicomlens.services.uploads import UploadRules, UploadService

if TYPE_CHECKING:  # the imaging core (numpy, pydicom) loads only where images are processed
    from dicomlens.analysis.pipeline import AnalysisOptions
    from dicomlens.deid.pixels import TextLocator
    from dicomlens.deid.profile import ProfileOptions
    from dicomlens.services.deidentification import DeidentificationService
    from dicomlens.services.dicomweb import DicomWebService
    from dicomlens.services.dicomweb_store import InstanceIndexer, StoreService
    from dicomlens.services.processing import ImageProcessor
    from dicomlens.services.reports import ReportService

AWS_FACTORY_MODULE = "dicomlens.adapters.aws.factory"


@dataclass(frozen=True, kw_only=True)
class Services:
    """Everything a handler needs, built once per process.

    The processor and the de-identification service are built on first use, so the API
    functions that never process images never import the imaging core, pydicom or the
    analyzers (cold starts stay short).
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
        """The upload processor with the configured analyzers (Rekognition's too when on)."""
        from dicomlens.services.processing import ImageProcessor  # noqa: PLC0415

        options = analysis_options(self.settings)
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
            indexer=self.indexer if self.settings.serves_dicomweb() else None,
            reports=self.reports
            if self.settings.reports_auto and self.settings.serves_dicomweb()
            else None,
        )

    @cached_property
    def redelivery(self) -> MessageRedelivery | None:
        """ChangeMessageVisibility on the processing queue (AWS); None locally, where the
        durable event queue retries by itself."""
        if self.settings.mode != "aws":
            return None
        aws_factory = importlib.import_module(AWS_FACTORY_MODULE)
        redelivery: MessageRedelivery = aws_factory.build_redelivery(self.settings)
        return redelivery

    @cached_property
    def instance_index(self) -> InstanceIndex:
        """The DICOMweb instance index: SQLite in the data directory, or the DynamoDB
        table ``instance_table_name`` in AWS mode."""
        if self.settings.mode == "aws":
            aws_factory = importlib.import_module(AWS_FACTORY_MODULE)
            index: InstanceIndex = aws_factory.build_instance_index(self.settings)
            return index
        from dicomlens.adapters.local.sqlite_index import SqliteInstanceIndex  # noqa: PLC0415

        return SqliteInstanceIndex(self.settings.data_dir / "instances.sqlite3")

    @cached_property
    def upload_intake(self) -> UploadIntake:
        """Where server-side uploads (STOW) go: the bucket (its notification queues them), or
        locally the blob store plus the durable event queue the workers read."""
        if self.settings.mode == "aws":
            intake: UploadIntake = self.blobs  # type: ignore[assignment]  # S3BlobStore
            return intake
        from dicomlens.adapters.local.files import LocalBlobStore  # noqa: PLC0415
        from dicomlens.local.event_queue import EventQueue  # noqa: PLC0415
        from dicomlens.local.upload_intake import LocalUploadIntake  # noqa: PLC0415
        from dicomlens.local.workers import queue_path  # noqa: PLC0415

        if not isinstance(self.blobs, LocalBlobStore):
            raise DicomlensError(ErrorCode.INTERNAL, "local uploads need the local blob store")
        return LocalUploadIntake(self.blobs, EventQueue(queue_path(self.settings)))

    @cached_property
    def indexer(self) -> InstanceIndexer:
        """Indexes parsed instances (STOW, and the processor for page uploads)."""
        from dicomlens.services.dicomweb_store import InstanceIndexer  # noqa: PLC0415

        return InstanceIndexer(
            blobs=self.blobs,
            index=self.instance_index,
            clock=self.clock,
            limits=self.settings.imaging_limits(),
        )

    @cached_property
    def reports(self) -> ReportService:
        """Analysis reports (DICOM SR) of completed jobs, indexed for DICOMweb."""
        from dicomlens.services.reports import ReportService  # noqa: PLC0415 - highdicom

        return ReportService(
            blobs=self.blobs,
            jobs=self.jobs,
            indexer=self.indexer,
            clock=self.clock,
            limits=self.settings.imaging_limits(),
            url_expiry_s=self.settings.download_expiry_s,
        )

    @cached_property
    def stow(self) -> StoreService:
        """STOW-RS: store, index and queue the processing of posted instances."""
        from dicomlens.services.dicomweb_store import StoreService  # noqa: PLC0415

        return StoreService(
            blobs=self.blobs,
            jobs=self.jobs,
            index=self.instance_index,
            intake=self.upload_intake,
            clock=self.clock,
            ids=self.ids,
            limits=self.settings.imaging_limits(),
            max_instance_bytes=self.settings.max_upload_bytes,
        )

    @cached_property
    def dicomweb(self) -> DicomWebService:
        """QIDO-RS and WADO-RS over the index and the stored instances."""
        from dicomlens.services.dicomweb import DicomWebService  # noqa: PLC0415

        return DicomWebService(
            blobs=self.blobs,
            index=self.instance_index,
            max_results=self.settings.qido_max_results,
        )

    @cached_property
    def sweeper(self) -> JobSweeper:
        """The sweeper of abandoned and stuck jobs; needs a job store with the open-jobs
        index (DynamoDB)."""
        if not isinstance(self.jobs, OpenJobIndex):
            raise DicomlensError(
                ErrorCode.INTERNAL, "the job sweeper needs a job store with an open-jobs index"
            )
        return JobSweeper(
            jobs=self.jobs,
            index=self.jobs,
            results=self.results,
            clock=self.clock,
            upload_grace_s=self.settings.upload_grace_s,
            stuck_after_s=self.settings.stuck_after_s,
        )

    @cached_property
    def deidentification(self) -> DeidentificationService:
        """De-identification of completed jobs: the configured profile, keyed by
        :attr:`deid_profile` (read on the first request, not here), OCR built on first use."""
        from dicomlens.services.deidentification import DeidentificationService  # noqa: PLC0415

        return DeidentificationService(
            blobs=self.blobs,
            jobs=self.jobs,
            clock=self.clock,
            options=lambda: self.deid_profile,
            limits=self.settings.imaging_limits(),
            locator=functools.cache(self._text_locator),
            url_expiry_s=self.settings.download_expiry_s,
        )

    def _text_locator(self) -> TextLocator | None:
        """De-identification's text search: Rekognition DetectText in AWS mode with
        Rekognition on (the Lambda layer carries no OCR models), else the offline OCR."""
        from dicomlens.deid.text_search import ocr_text_finder  # noqa: PLC0415

        if self.settings.mode == "aws" and self.settings.rekognition:
            aws_factory = importlib.import_module(AWS_FACTORY_MODULE)
            locator: TextLocator | None = aws_factory.build_text_locator(self.settings)
            return locator
        return ocr_text_finder()

    @cached_property
    def deid_profile(self) -> ProfileOptions:
        """The de-identification profile with its key (see :func:`deid_key`), read once per
        process; a failed read is not kept, so the next request tries again."""
        return self.settings.deid_options(deid_key(self.settings))


def analysis_options(settings: Settings) -> AnalysisOptions:
    """The pipeline options ``settings`` describe, with the offline analyzers they select
    (built here; each loads its model on first use)."""
    from dicomlens.analysis.analyzers.registry import build_analyzers  # noqa: PLC0415
    from dicomlens.analysis.pipeline import AnalysisOptions  # noqa: PLC0415

    return AnalysisOptions(
        limits=settings.imaging_limits(),
        window_presets=settings.window_presets,
        png_compress_level=settings.png_compress_level,
        analyzers=build_analyzers(settings.analyzer_selection()),
        analyzer_timeout_s=settings.analyzer_timeout_s,
    )


def deid_key(settings: Settings) -> bytes:
    """The de-identification key: the configured ``deid_secret``, else the Secrets Manager
    secret ``deid_secret_arn``, else (local mode only) the key generated once in the data
    directory.

    DEIDENTIFICATION_FAILED in AWS mode without a secret or an ARN (a Lambda function has no
    lasting data directory to keep a generated key in), or when the secret cannot be read.
    """
    if settings.deid_secret is not None:
        return settings.deid_secret.get_secret_value().encode()
    if settings.deid_secret_arn:
        aws_factory = importlib.import_module(AWS_FACTORY_MODULE)
        key: bytes = aws_factory.read_deid_key(settings.deid_secret_arn)
        return key
    if settings.mode == "aws":
        raise DicomlensError(
            ErrorCode.DEIDENTIFICATION_FAILED, "no de-identification key is configured"
        )
    from dicomlens.deid.secret import load_or_create_key  # noqa: PLC0415 - local mode only

    return load_or_create_key(settings.data_dir)


def local_adapters(settings: Settings, clock: Clock) -> tuple[BlobStore, JobStore]:
    """Blobs under ``data_dir/blobs``, jobs in ``data_dir/jobs.sqlite3``, signed with the
    configured secret or one generated once and kept in ``data_dir/secret.key``.

    Imported here, not with this module: the Lambda functions never need them (sqlite3 ...).
    """
    from dicomlens.adapters.local.files import LocalBlobStore  # noqa: PLC0415
    from dicomlens.adapters.local.signing import Signer, load_or_create_secret  # noqa: PLC0415
    from dicomlens.adapters.local.sqlite_jobs import SqliteJobStore  # noqa: PLC0415

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
            clock=clock,
            url_expiry_s=settings.download_expiry_s,
            expose_phi=settings.expose_phi,
            upload_grace_s=settings.upload_grace_s,
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


def build_during_lambda_init(handler_module: str, *, build: tuple[str, ...] = ()) -> None:
    """Build the services now when ``handler_module`` is the one this Lambda execution
    environment runs (``_HANDLER`` names it), with the services named in ``build`` (the
    :class:`Services` attributes that function's requests use, e.g. ``"processor"``), then
    turn the garbage collector back on (see :mod:`dicomlens.handlers`); anywhere else
    (tests, the local runtime, a module imported by another handler) do nothing.

    Every handler module a Lambda function names must call this last: without it, its
    first request pays for the wiring, and the collector stays off for the life of the
    process. Lambda runs init, the import of the handler module, with a full vCPU, whatever
    the memory size: what is built here is not paid by the first request. A failure is
    logged and left to the first request, which builds again and answers with the error.
    """
    if os.environ.get("_HANDLER", "").rpartition(".")[0] != handler_module:
        return
    try:
        services = get_services()
        for name in build:
            getattr(services, name)
    except Exception as exc:  # any: the first request builds again and reports it
        logging.getLogger(__name__).warning(
            "services not built during init (%s); the first request builds them",
            type(exc).__name__,
        )
    finally:
        # dicomlens.handlers stopped the collector for init; what init built lives as long as
        # the process: frozen, later collections do not scan it again
        gc.freeze()
        gc.enable()


def use_services(services: Services | None) -> None:
    """Install ``services`` for this process (the local runtime, tests); None forgets them."""
    global _current  # noqa: PLW0603
    with _lock:
        _current = services
