"""Typed settings: the only reader of the environment.

Precedence: explicit argument > environment (``DICOMLENS_*``) > embedded default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
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
