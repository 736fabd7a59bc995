"""Analyzer configuration values: light (pydantic and dataclasses only), so that the
settings can describe analyzers without importing numpy, onnxruntime or OpenCV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from dicomlens.analysis.analyzers.classifier import OnnxClassifierConfig

BUILTIN_ANALYZERS = ("classifier", "faces", "ocr")

# Defaults shared by Settings and the analyzers' own option values (one place for each).
ANALYZER_THREADS = 1  # onnxruntime threads per session: one worker process per core
CLASSIFIER_MIN_CONFIDENCE = 0.2
OCR_MIN_CONFIDENCE = 0.6


ANALYZER_TIMEOUT_S = 30.0  # each analyzer's time budget per frame (model loading included)


@dataclass(frozen=True, kw_only=True)
class FrameRequirement:
    """The frames an analyzer can use: at least ``min_side`` pixels on each side and a long
    side at most ``max_aspect`` times the short one (None: any shape). Other frames are
    skipped, with a finding that says why.

    ``max_side``: the analyzer shrinks a frame to this long side (or less) before it looks
    at it, so a frame decoded at that size serves it as well as the full one; None: it may
    look at full resolution, and the frame is decoded whole.
    """

    min_side: int = 1
    max_aspect: float | None = None
    max_side: int | None = None

    def unmet_by(self, rows: int, columns: int) -> str | None:
        """Why a ``rows`` x ``columns`` frame is unusable, or None when it is usable."""
        short, long = min(rows, columns), max(rows, columns)
        if short < self.min_side:
            return (
                f"the frame is {columns}x{rows} pixels; it needs at least {self.min_side}"
                " on each side"
            )
        if self.max_aspect is not None and long > self.max_aspect * short:
            return (
                f"the frame is {columns}x{rows} pixels; it needs a long side at most"
                f" {self.max_aspect:g} times the short one"
            )
        return None


ImageKindScope = Literal["any", "photographs", "medical"]
"""The pictures an analyzer can find something in: ``photographs`` are PNG/JPEG uploads and
DICOM pictures that are not grayscale medical images (photographic modalities such as XC,
OP, ES, GM, SM, and colour secondary captures); ``medical`` are the others."""


@dataclass(frozen=True, kw_only=True)
class ImageScope:
    """What an analyzer applies to; the pipeline runs it only there and records every skip
    with its reason (``AnalysisResult.skipped_analyzers``).

    ``images``: see :data:`ImageKindScope`. ``modalities``: the DICOM Modality values it
    applies to (upper case; None: any file, with or without a Modality).
    """

    images: ImageKindScope = "any"
    modalities: frozenset[str] | None = None

    def unmet_by(self, *, photograph: bool, modality: str | None) -> str | None:
        """Why a picture (a photograph or not, of ``modality``) is out of scope, or None."""
        if self.images == "photographs" and not photograph:
            return "it applies to photographs; this is a grayscale medical image"
        if self.images == "medical" and photograph:
            return "it applies to medical images; this is a photograph"
        if self.modalities is not None:
            wanted = ", ".join(sorted(self.modalities))
            if not modality:
                return f"it applies to modalities {wanted}; the file has no Modality"
            if modality.upper() not in self.modalities:
                return f"it applies to modalities {wanted}; the file's is {modality}"
        return None


ANY_IMAGE = ImageScope()
PHOTOGRAPHS = ImageScope(images="photographs")


@dataclass(frozen=True, kw_only=True)
class FaceDetectorConfig:
    """Detection parameters. ``max_side``: frames are shrunk to it first (speed; a face that
    identifies someone is large); ``min_size_fraction``: smallest face, as a fraction of the
    shrunk frame's short side; ``threads``: OpenCV's threads in this process (0 = its own
    choice).
    """

    min_neighbors: int = 6
    scale_factor: float = 1.15
    min_size_fraction: float = 0.08
    max_side: int = 320
    threads: int = 1


class OnnxModelSpec(BaseModel):
    """A bring-your-own ONNX classifier as configured (see ``OnnxClassifierConfig``).

    ``input_size`` is ``[height, width]`` or one number for a square; ``mean``/``std`` apply
    to pixel values scaled to [0, 1]; ``crop`` is a relative ``[left, top, width, height]``.
    ``images`` and ``modalities``: the pictures it applies to (see :class:`ImageScope`;
    default: every picture).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    path: Path
    labels: Path
    input_size: int | tuple[int, int] = 224
    resize_short_side: int | None = None
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    crop: tuple[float, float, float, float] | None = None
    channels: Literal["rgb", "bgr", "gray"] = "rgb"
    layout: Literal["nchw", "nhwc"] = "nchw"
    output: Literal["logits", "probabilities", "sigmoid"] = "logits"
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    top_k: int = Field(default=5, ge=1)
    category: str | None = None
    images: ImageKindScope = "any"
    modalities: tuple[str, ...] | None = None

    def to_config(self, *, threads: int) -> OnnxClassifierConfig:
        """The analyzer configuration this spec describes."""
        from dicomlens.analysis.analyzers.classifier import OnnxClassifierConfig  # noqa: PLC0415

        size = self.input_size if isinstance(self.input_size, tuple) else (self.input_size,) * 2
        return OnnxClassifierConfig(
            name=self.name,
            model_path=self.path,
            labels_path=self.labels,
            input_size=size,
            resize_short_side=self.resize_short_side,
            mean=self.mean,
            std=self.std,
            crop=self.crop,
            channels=self.channels,
            layout=self.layout,
            output=self.output,
            min_confidence=self.min_confidence,
            top_k=self.top_k,
            source=self.name,
            category=self.category,
            threads=threads,
            scope=ImageScope(
                images=self.images,
                modalities=(
                    None
                    if self.modalities is None
                    else frozenset(m.strip().upper() for m in self.modalities)
                ),
            ),
        )
