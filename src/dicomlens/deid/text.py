"""The OCR analyzer as a :data:`~dicomlens.deid.pixels.TextLocator` (optional dependency)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np

from dicomlens.deid.pixels import TextLocator
from dicomlens.domain.results import Box

# Redaction wants recall: keep weaker readings and short lines the analyzer's findings drop.
MIN_CONFIDENCE = 0.3
MIN_CHARS = 1


def ocr_text_locator() -> TextLocator | None:
    """A locator backed by the RapidOCR analyzer, or None when it is not installed."""
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        return None
    try:
        from dicomlens.analysis.analyzers.ocr import (  # noqa: PLC0415
            BurnedInTextReader,
            OcrConfig,
        )
    except ImportError:
        return None
    config = OcrConfig(min_confidence=MIN_CONFIDENCE, min_chars=MIN_CHARS)
    reader = BurnedInTextReader(config=config)

    def locate(pixels: np.ndarray) -> Sequence[Box]:
        return [line.box for line in reader.read(pixels)]

    return locate
