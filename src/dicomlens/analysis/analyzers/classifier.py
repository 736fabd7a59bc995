"""Image classifiers on onnxruntime: the bundled ImageNet model and bring-your-own ONNX models.

No torch at run time: preprocessing is numpy + Pillow, inference is one onnxruntime
session per model and process (loaded lazily, then cached).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from dicomlens import assets
from dicomlens.analysis.analyzers._runtime import (
    as_gray,
    as_rgb,
    onnx_session,
    text_lines,
)
from dicomlens.analysis.analyzers.budget import check_deadline
from dicomlens.analysis.analyzers.spec import ANY_IMAGE, PHOTOGRAPHS, FrameRequirement, ImageScope
from dicomlens.domain.results import Label
from dicomlens.ports import AnalyzerInput, AnalyzerOutput

# Resizing a strip's short side up to ``resize_short_side`` keeping the aspect would make a
# huge intermediate picture: such models skip frames more elongated than this.
MAX_RESIZE_ASPECT = 10.0


@dataclass(frozen=True, kw_only=True)
class OnnxClassifierConfig:
    """An ONNX image classifier and the preprocessing its training used.

    The frame is cut to ``crop`` (relative left, top, width, height; None = whole frame),
    converted to ``channels``, resized (``resize_short_side``: the short side to that many
    pixels keeping the aspect, then a centre crop to ``input_size``; None: straight to
    ``input_size``) with bicubic filtering, scaled to [0, 1], normalised per channel as
    ``(x - mean) / std`` and laid out as ``layout`` with a batch of one. The first output
    holds one score per line of ``labels_path`` (``output`` says what the scores are).
    ``scope``: the pictures it is run on (the pipeline skips the others).
    """

    name: str
    model_path: Path
    labels_path: Path
    input_size: tuple[int, int] = (224, 224)
    resize_short_side: int | None = None
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    crop: tuple[float, float, float, float] | None = None
    channels: Literal["rgb", "bgr", "gray"] = "rgb"
    layout: Literal["nchw", "nhwc"] = "nchw"
    output: Literal["logits", "probabilities", "sigmoid"] = "logits"
    min_confidence: float = 0.5
    top_k: int = 5
    source: str | None = None
    category: str | None = None
    title_case: bool = False
    scope: ImageScope = ANY_IMAGE
    threads: int = 1
    min_side: int = 1


def imagenet_classifier_config(
    *,
    model_path: Path | None = None,
    labels_path: Path | None = None,
    min_confidence: float = 0.2,
    threads: int = 1,
) -> OnnxClassifierConfig:
    """The bundled EfficientNet-Lite0 ImageNet classifier (see ``models/``).

    ``model_path`` and ``labels_path`` replace the files shipped with the package.
    """
    return OnnxClassifierConfig(
        name="classifier",
        model_path=model_path or assets.imagenet_model(),
        labels_path=labels_path or assets.imagenet_labels(),
        input_size=(224, 224),
        resize_short_side=256,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        output="logits",
        min_confidence=min_confidence,
        top_k=5,
        source="classifier",
        category="object",
        title_case=True,
        # ImageNet knows no radiographs: on grayscale medical images it scores nonsense.
        scope=PHOTOGRAPHS,
        threads=threads,
        min_side=16,  # no object is recognisable in fewer pixels
    )


@dataclass(frozen=True, kw_only=True)
class OnnxClassifier:
    """Labels from an ONNX classifier: the ``top_k`` classes scoring ``min_confidence`` or more."""

    config: OnnxClassifierConfig

    @property
    def name(self) -> str:
        """The configured name."""
        return self.config.name

    @property
    def frame_requirement(self) -> FrameRequirement:
        """Frames under ``min_side``, and extreme strips when resizing by the short side.

        The model sees the frame resized to its input (the short side to
        ``resize_short_side``, at most ``MAX_RESIZE_ASPECT`` times longer on the other);
        with a ``crop``, a part of the frame is enlarged, so it may need full resolution.
        """
        config = self.config
        resize = config.resize_short_side
        looks_at = resize * MAX_RESIZE_ASPECT if resize else max(config.input_size)
        return FrameRequirement(
            min_side=config.min_side,
            max_aspect=MAX_RESIZE_ASPECT if resize else None,
            max_side=None if config.crop is not None else math.ceil(looks_at),
        )

    @property
    def image_scope(self) -> ImageScope:
        """The configured scope (the bundled ImageNet model: photographs only)."""
        return self.config.scope

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        """Classify the frame."""
        config = self.config
        session = onnx_session(str(config.model_path), config.threads)
        names = text_lines(str(config.labels_path))
        tensor = preprocess(frame.pixels, config)
        check_deadline()
        scores = np.asarray(session.run(None, {session.get_inputs()[0].name: tensor})[0])
        scores = scores.reshape(-1).astype(np.float64)
        if scores.size != len(names):
            raise ValueError(
                f"the model gives {scores.size} scores but the labels file has {len(names)} lines"
            )
        probabilities = _to_probabilities(scores, config.output)
        source = config.source or config.name
        labels = []
        for index in np.argsort(probabilities)[::-1][: config.top_k]:
            confidence = float(probabilities[index])
            if confidence < config.min_confidence:
                break
            name = names[int(index)]
            labels.append(
                Label(
                    name=name.title() if config.title_case else name,
                    confidence=round(min(max(confidence, 0.0), 1.0), 4),
                    source=source,
                    category=config.category,
                )
            )
        return AnalyzerOutput(labels=tuple(labels))


def preprocess(pixels: np.ndarray, config: OnnxClassifierConfig) -> np.ndarray:
    """The model input tensor (float32, batch of one) for an 8-bit frame."""
    if config.crop is not None:
        pixels = _crop(pixels, config.crop)
    if config.channels == "gray":
        picture = Image.fromarray(as_gray(pixels), mode="L")
    else:
        picture = Image.fromarray(as_rgb(pixels), mode="RGB")
    height, width = config.input_size
    if config.resize_short_side:
        scale = config.resize_short_side / min(picture.width, picture.height)
        resized = (
            max(width, round(picture.width * scale)),
            max(height, round(picture.height * scale)),
        )
        picture = picture.resize(resized, Image.Resampling.BICUBIC)
        left = (picture.width - width) // 2
        top = (picture.height - height) // 2
        picture = picture.crop((left, top, left + width, top + height))
    else:
        picture = picture.resize((width, height), Image.Resampling.BICUBIC)
    array = np.asarray(picture, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[:, :, None]
    if config.channels == "bgr":
        array = array[:, :, ::-1]
    mean = np.asarray(config.mean, dtype=np.float32)
    std = np.asarray(config.std, dtype=np.float32)
    array = (array - mean) / std
    if config.layout == "nchw":
        array = array.transpose(2, 0, 1)
    return np.ascontiguousarray(array[None], dtype=np.float32)


def _crop(pixels: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    rows, columns = pixels.shape[:2]
    left, top, width, height = box
    x0 = min(max(round(left * columns), 0), columns - 1)
    y0 = min(max(round(top * rows), 0), rows - 1)
    x1 = min(max(round((left + width) * columns), x0 + 1), columns)
    y1 = min(max(round((top + height) * rows), y0 + 1), rows)
    cropped: np.ndarray = pixels[y0:y1, x0:x1]
    return cropped


def _to_probabilities(scores: np.ndarray, output: str) -> np.ndarray:
    if output == "logits":
        shifted = np.exp(scores - scores.max())
        probabilities: np.ndarray = shifted / shifted.sum()
    elif output == "sigmoid":
        probabilities = 1.0 / (1.0 + np.exp(-scores))
    else:
        probabilities = np.clip(scores, 0.0, 1.0)
    return probabilities
