"""De-identification option values: light (pydantic only), for the settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Longitudinal = Literal["off", "full", "shifted"]
PixelText = Literal["required", "auto", "off"]


class RegionRule(BaseModel):
    """Regions to black out in every frame of the images this rule matches.

    A rule matches when each given criterion matches: ``modality`` exactly, ``manufacturer``
    and ``model`` as case-insensitive substrings, ``rows``/``columns`` exactly. ``regions``
    are ``[left, top, width, height]`` in pixels; ``top_rows`` is shorthand for a band across
    the top (for example ultrasound from one vendor: the top 60 rows).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    modality: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    rows: int | None = Field(default=None, gt=0)
    columns: int | None = Field(default=None, gt=0)
    top_rows: int = Field(default=0, ge=0)
    regions: tuple[tuple[int, int, int, int], ...] = ()
