"""Typed settings: the only reader of the environment.

Precedence: explicit argument > environment (``DICOMLENS_*``) > embedded default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomlens.analysis.pipeline import AnalysisOptions
from dicomlens.imaging.limits import ImagingLimits

MiB = 1024**2


class Settings(BaseSettings):
    """Deployment settings. Build once per process (see :mod:`dicomlens.bootstrap`)."""

    model_config = SettingsConfigDict(env_prefix="DICOMLENS_", frozen=True, extra="ignore")

    mode: Literal["local", "aws"] = "local"
    data_dir: Path = Path("./data")

    max_file_bytes: int = Field(default=2048 * MiB, gt=0)
    max_frame_samples: int = Field(default=120_000_000, gt=0)
    max_total_samples: int = Field(default=8 * 1024**3, gt=0)
    max_inflated_bytes: int = Field(default=512 * MiB, gt=0)
    decode_timeout_s: float = Field(default=60.0, gt=0)
    window_presets: bool = True
    png_compress_level: int = Field(default=1, ge=0, le=9)

    # Uploads and the HTTP API (issue 3).
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
    expose_phi: bool = False
    site_origin: str | None = None  # the web page's origin for CORS; None = the server's own

    # Local runtime (``dicomlens serve``).
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None  # how browsers reach the server; None = http://host:port
    hmac_secret: SecretStr | None = None  # None = generated once and kept in the data dir
    workers: int = Field(default=2, ge=1, le=64)
    worker_kind: Literal["process", "thread"] = "process"
    template_path: Path | None = None  # None = infra/template.yaml of the source tree
    web_dir: Path | None = None  # None = web/ of the source tree
    shutdown_grace_s: float = Field(default=30.0, ge=0)

    # AWS mode (issue 4): names come from the stack's environment variables.
    bucket_name: str | None = None  # the upload bucket (uploads/ and derived/)
    table_name: str = "ImageAnalysisResults"
    aws_region: str | None = None  # None = botocore's own lookup (AWS_REGION in Lambda)
    s3_endpoint_url: str | None = None  # an S3-compatible store (MinIO ...) or moto
    dynamodb_endpoint_url: str | None = None
    pending_ttl_s: int = Field(default=7 * 24 * 3600, gt=0)  # abandoned upload tickets
    rekognition: bool = False  # add Rekognition DetectLabels / DetectText analyzers
    rekognition_max_labels: int = Field(default=10, ge=1, le=1000)
    rekognition_min_confidence: float = Field(default=70.0, ge=0.0, le=100.0)

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

    def analysis_options(self) -> AnalysisOptions:
        """The pipeline options these settings describe."""
        return AnalysisOptions(
            limits=self.imaging_limits(),
            window_presets=self.window_presets,
            png_compress_level=self.png_compress_level,
        )
