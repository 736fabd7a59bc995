"""The OCR analyzer as a :data:`~dicomlens.deid.pixels.TextLocator` (optional dependency)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dicomlens.deid.pixels import TextLocator
from dicomlens.deid.text_search import ocr_text_reader
from dicomlens.domain.results import Box

# Redaction wants recall: keep weaker readings and short lines the analyzer's findings drop.
MIN_CONFIDENCE = 0.3
MIN_CHARS = 1


def ocr_text_locator() -> TextLocator | None:
    """A locator backed by the RapidOCR analyzer, or None when it is not installed."""
    reader = ocr_text_reader(min_confidence=MIN_CONFIDENCE, min_chars=MIN_CHARS)
    if reader is None:
        return None

    def locate(pixels: np.ndarray) -> Sequence[Box]:
        return [line.box for line in reader.read(pixels)]

    return locate
