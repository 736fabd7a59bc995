"""Typed settings: the only reader of the environment.

Precedence: explicit argument > environment (``DICOMLENS_*``) > embedded default. Settings
hold plain values and give them as the frozen option values the core takes (limits, analyzer
selection, de-identification profile); they build nothing that acts: analyzers, adapters and
services are built by :mod:`dicomlens.bootstrap`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from dicomlens.analysis.analyzers.spec import (
    ANALYZER_THREADS,
    ANALYZER_TIMEOUT_S,
    BUILTIN_ANALYZERS,
    CLASSIFIER_MIN_CONFIDENCE,
    OCR_MIN_CONFIDENCE,
    FaceDetectorConfig,
    OnnxModelSpec,
)
from dicomlens.deid.options import Longitudinal, PixelText, RegionRule
from dicomlens.imaging.limits import PNG_COMPRESS_LEVEL, ImagingLimits

if TYPE_CHECKING:  # heavy (numpy, pydicom): imported where used, keeping API cold starts fast
    from dicomlens.analysis.analyzers.registry import AnalyzerSelection
    from dicomlens.deid.profile import ProfileOptions

MiB = 1024**2
PROCESSING_GRACE_S = 5.0  # beyond decoding and the analyzers: rendering, PNG encoding
REKOGNITION_ANALYZERS = 3  # DetectLabels, DetectText and DetectFaces
_LIMITS = ImagingLimits()
_FACES = FaceDetectorConfig()


class Settings(BaseSettings):
    """Deployment settings. Build once per process (see :mod:`dicomlens.bootstrap`)."""

    model_config = SettingsConfigDict(env_prefix="DICOMLENS_", frozen=True, extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Constructor arguments, then ``DICOMLENS_*`` variables: no ``.env`` file and no
        secrets directory is configured, and their sources would walk every field again on
        each build (a Lambda cold start builds one)."""
        return (init_settings, env_settings)

    mode: Literal["local", "aws"] = "local"
    data_dir: Path = Path("./data")

    # Defaults come from the option values the core uses (one place for each).
    max_file_bytes: int = Field(default=_LIMITS.max_file_bytes, gt=0)
    max_frame_samples: int = Field(default=_LIMITS.max_frame_samples, gt=0)
    max_total_samples: int = Field(default=_LIMITS.max_total_samples, gt=0)
    max_inflated_bytes: int = Field(default=_LIMITS.max_inflated_bytes, gt=0)
    decode_timeout_s: float = Field(default=_LIMITS.decode_timeout_s, gt=0)
    window_presets: bool = False  # CT window-preset previews (soft tissue, lung, ...) on request
    png_compress_level: int = Field(default=PNG_COMPRESS_LEVEL, ge=0, le=9)

    # Uploads and the HTTP API.
    max_upload_bytes: int = Field(default=512 * MiB, gt=0)
    allowed_content_types: tuple[str, ...] = (
        "application/dicom",
        "application/octet-stream",
        "image/png",
        "image/jpeg",
    )
    upload_expiry_s: int = Field(default=900, gt=0, le=7 * 24 * 3600)
    download_expiry_s: int = Field(default=900, gt=0, le=7 * 24 * 3600)
    lease_timeout_s: float = Field(default=300.0, gt=0)
    # A PENDING job ends EXPIRED this long after its upload form expired without an upload
    # (time for an upload begun just before the form's expiry to finish).
    upload_grace_s: float = Field(default=1800.0, ge=0)
    # The sweeper (AWS) ends FAILED with PROCESSING_TIMEOUT a PROCESSING job whose lease ended
    # this long ago without a retry claiming it: more than the processing queue's
    # maxReceiveCount x visibility timeout, so every redelivery had its chance first.
    stuck_after_s: float = Field(default=3 * 3600.0, gt=0)
    # A job whose worker process died this many times ends FAILED with WORKER_CRASHED.
    max_worker_crashes: int = Field(default=3, ge=1, le=100)
    expose_phi: bool = False
    site_origin: str | None = None  # the web page's origin for CORS; None = the server's own

    # Local runtime (``dicomlens serve``).
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None  # how browsers reach the server; None = http://host:port
    hmac_secret: SecretStr | None = None  # None = generated once and kept in the data dir
    workers: int = Field(default=2, ge=1, le=64)
    worker_kind: Literal["process", "thread"] = "process"
    http_processes: int = Field(default=2, ge=1, le=64)  # processes serving HTTP (one socket)
    template_path: Path | None = None  # None = the packaged infra/template.yaml (dicomlens.assets)
    web_dir: Path | None = None  # None = the packaged web/ (dicomlens.assets)
    # the OHIF viewer's build cache (dicomlens viewer install); None = ~/.cache/dicomlens/ohif
    viewer_dir: Path | None = None
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    # A bearer token for the API and the upload endpoint; required when ``host`` is not a
    # loopback address (sent as ``Authorization: Bearer ...``; never put in config.json).
    api_token: SecretStr | None = None
    # Host header names (with or without ``:port``) accepted besides the loopback names, the
    # bound host and ``public_url``'s; comma-separated in DICOMLENS_ALLOWED_HOSTS.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    header_timeout_s: float = Field(default=10.0, gt=0)  # a request's line and headers
    body_idle_timeout_s: float = Field(default=30.0, gt=0)  # between two chunks of a body
    max_form_fields: int = Field(default=50, ge=1)  # upload form fields before the file
    max_form_field_bytes: int = Field(default=64 * 1024, ge=1024)  # their total size

    # AWS mode: names come from the stack's environment variables.
    bucket_name: str | None = None  # the upload bucket (uploads/ and derived/)
    table_name: str = "ImageAnalysisResults"
    aws_region: str | None = None  # None = botocore's own lookup (AWS_REGION in Lambda)
    s3_endpoint_url: str | None = None  # an S3-compatible store (MinIO ...) or moto
    dynamodb_endpoint_url: str | None = None
    pending_ttl_s: int = Field(default=7 * 24 * 3600, gt=0)  # abandoned upload tickets
    rekognition: bool = False  # add Rekognition DetectLabels / DetectText analyzers
    rekognition_max_labels: int = Field(default=10, ge=1, le=1000)
    rekognition_min_confidence: float = Field(default=70.0, ge=0.0, le=100.0)

    # Offline analyzers. ``analyzers``: names in order, comma-separated in the
    # environment (DICOMLENS_ANALYZERS=classifier,faces,ocr); None = classifier, faces and
    # OCR in local mode, none in AWS mode. Bring-your-own ONNX classifiers: JSON in
    # DICOMLENS_BYO_MODELS (see OnnxModelSpec), each run when its name is in ``analyzers``.
    analyzers: Annotated[tuple[str, ...] | None, NoDecode] = None
    analyzer_threads: int = Field(
        default=ANALYZER_THREADS, ge=0, le=64
    )  # per session; 0 = one per core
    classifier_model: Path | None = None  # None = the packaged models/efficientnet-lite0.onnx
    classifier_labels: Path | None = None  # None = the packaged models/imagenet-classes.txt
    classifier_min_confidence: float = Field(default=CLASSIFIER_MIN_CONFIDENCE, ge=0.0, le=1.0)
    face_min_neighbors: int = Field(default=_FACES.min_neighbors, ge=1)
    ocr_min_confidence: float = Field(default=OCR_MIN_CONFIDENCE, ge=0.0, le=1.0)
    byo_models: tuple[OnnxModelSpec, ...] = ()
    # Each analyzer's time budget per file; one that runs out is stopped and the job
    # completes with an ``analyzer-timeout`` finding.
    analyzer_timeout_s: float = Field(default=ANALYZER_TIMEOUT_S, gt=0)

    @field_validator("api_token", mode="before")
    @classmethod
    def _blank_token_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None  # DICOMLENS_API_TOKEN= must not stand for "a token, the empty one"
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("analyzers", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    def analyzer_selection(self) -> AnalyzerSelection:
        """Which analyzers run, with their options."""
        from dicomlens.analysis.analyzers.registry import AnalyzerSelection  # noqa: PLC0415

        return AnalyzerSelection(
            names=self.analyzer_names(),
            threads=self.analyzer_threads,
            classifier_model=self.classifier_model,
            classifier_labels=self.classifier_labels,
            classifier_min_confidence=self.classifier_min_confidence,
            face=FaceDetectorConfig(min_neighbors=self.face_min_neighbors),
            ocr_min_confidence=self.ocr_min_confidence,
            models=self.byo_models,
        )

    # De-identification (``dicomlens deidentify``, ``POST /jobs/{jobId}/deidentify``).
    deid_secret: SecretStr | None = None  # keys UIDs, dates, pseudonyms; None = kept in data dir
    deid_secret_arn: str | None = None  # Secrets Manager secret holding the key (AWS mode)
    deid_longitudinal: Longitudinal = "off"  # retain dates: off, full or shifted per patient
    deid_max_date_shift_days: int = Field(default=3650, ge=1, le=36500)
    deid_retain_patient_characteristics: bool = False
    deid_retain_device_identity: bool = False
    deid_clean_descriptors: bool = False
    deid_retain_uids: bool = False
    deid_safe_private_tags: tuple[str, ...] = ()  # "gggg,CREATOR,ee" (hexadecimal)
    deid_pixel_text: PixelText = "required"  # OCR for burned-in text: required, auto or off
    # The hard time limit of one de-identification request in the local server's worker
    # processes; None = the processing limit (``processing_time_limit_s``).
    deid_time_limit_s: float | None = Field(default=None, gt=0)
    deid_workers: int = Field(default=1, ge=1, le=16)  # per HTTP process, started on first use
    deid_region_rules: tuple[
        RegionRule, ...
    ] = ()  # JSON list, e.g. [{"modality":"US","top_rows":60}]

    # DICOMweb (``/dicomweb``: STOW-RS, QIDO-RS, WADO-RS). It returns patient data by nature:
    # unset, it is on locally (loopback-only unless an API token is set) and off in AWS mode,
    # where the stack turns it on only together with the JWT authorizer (EnableDicomWeb
    # needs EnableJwtAuth) and the index table it creates. See serves_dicomweb().
    dicomweb: bool | None = None
    instance_table_name: str = "ImageInstanceIndex"  # AWS mode: the index's DynamoDB table
    # One STOW request's body: API Gateway takes 10 MB; locally more is allowed (the body is
    # held in memory while it is parsed). Larger studies go in several requests, and a file
    # of any size through the page's upload path, which indexes it the same way.
    stow_max_body_bytes: int = Field(default=64 * MiB, gt=0)
    qido_max_results: int = Field(default=1000, ge=1, le=100_000)  # a larger limit is capped
    # One WADO-RS answer (a study or series retrieve, a frame list) is built in memory, up to
    # dicomweb_max_retrieve_bytes. One larger than dicomweb_max_response_bytes is stored
    # under dicomweb-answers/ and answered with a 303 to a short-lived URL: Lambda returns
    # at most 6 MB through API Gateway (the template sets 4 MB, base64 makes it 5.3 MB).
    dicomweb_max_response_bytes: int = Field(default=1024 * MiB, gt=0)
    dicomweb_max_retrieve_bytes: int = Field(default=1024 * MiB, gt=0)

    # Analysis reports (DICOM SR, ``POST /jobs/{jobId}/report``): with reports_auto the
    # processor also writes one after each DICOM analysis with labels or boxed findings
    # (needs DICOMweb: the report is indexed in its study). A failed report never fails
    # the job: it adds an ``analysis-report-failed`` finding.
    reports_auto: bool = False

    def serves_dicomweb(self) -> bool:
        """Whether DICOMweb is served and uploads are indexed: ``dicomweb`` when set, else
        on in local mode and off in AWS mode."""
        return self.dicomweb if self.dicomweb is not None else self.mode != "aws"

    def analyzer_names(self) -> tuple[str, ...]:
        """The names of the offline analyzers that run (``analyzers`` or the mode's default)."""
        if self.analyzers is not None:
            return tuple(dict.fromkeys(self.analyzers))
        return BUILTIN_ANALYZERS if self.mode == "local" else ()

    def processing_time_limit_s(self) -> float:
        """The hard time limit of one file's processing: decoding, each analyzer's budget,
        and a grace for rendering. A worker that overruns it is killed."""
        analyzers = len(self.analyzer_names()) + (REKOGNITION_ANALYZERS if self.rekognition else 0)
        return self.decode_timeout_s + analyzers * self.analyzer_timeout_s + PROCESSING_GRACE_S

    def base_url(self) -> str:
        """The origin browsers use to reach the local server (no trailing slash)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def cors_origin(self) -> str:
        """The single origin allowed to call the API from a browser."""
        return (self.site_origin or self.base_url()).rstrip("/")

    def imaging_limits(self) -> ImagingLimits:
        """The imaging limits these settings describe."""
        return ImagingLimits(
            max_file_bytes=self.max_file_bytes,
            max_frame_samples=self.max_frame_samples,
            max_total_samples=self.max_total_samples,
            max_inflated_bytes=self.max_inflated_bytes,
            decode_timeout_s=self.decode_timeout_s,
        )

    def deid_options(self, secret: bytes) -> ProfileOptions:
        """The de-identification profile these settings describe, keyed by ``secret``."""
        from dicomlens.deid.profile import ProfileOptions  # noqa: PLC0415

        return ProfileOptions(
            secret=secret,
            longitudinal=self.deid_longitudinal,
            max_date_shift_days=self.deid_max_date_shift_days,
            retain_patient_characteristics=self.deid_retain_patient_characteristics,
            retain_device_identity=self.deid_retain_device_identity,
            clean_descriptors=self.deid_clean_descriptors,
            retain_uids=self.deid_retain_uids,
            safe_private_tags=frozenset(self.deid_safe_private_tags),
            pixel_text=self.deid_pixel_text,
            region_rules=self.deid_region_rules,
        )
