"""The burned-in text search: every frame, every rendering, three orientations.

Each frame is rendered every way text could be legible in it
(:func:`~dicomlens.deid.renderings.frame_renderings`), and each rendering is examined as it
is and turned 90°, so that vertical labels along an edge stand upright or upside down for the
detector. The text *detector* runs on both of these images; the *recogniser* reads only the
regions the detector found, upright and half-turned: the half-turn of the 90° image is the
frame turned 270°, so text at 0°, 90°, 180° and 270° is read without a third detector pass
(measured on labels 11 to 22 pixels tall, both directions: the same regions as with a 270°
pass, at two thirds of the cost). The 0° image alone is not enough: its detector misses short
vertical labels. Boxes are mapped back to the frame's own coordinates.

Results are kept per image digest within one search: a rendering byte-identical to one
already examined (a repeated frame, two windows that come out the same) is not examined
twice, since the detector is a function of those bytes alone.

Two readings of a result, on purpose apart:

* :meth:`FoundText.to_redact`: what the search blacks out, tuned for recall (weak readings
  of one character count).
* :meth:`FoundText.is_legible`: what makes the verification of a redacted output fail,
  tuned against false alarms on anatomy: recognised text of at least
  :data:`VERIFY_MIN_CHARS` letters or digits read with a score of at least
  :data:`VERIFY_MIN_CONFIDENCE`. The gap between the two thresholds means whatever the
  verifier can flag, the search would already have redacted had it seen it there.

Both count only text-shaped regions (:func:`text_shaped`): glyphs at most a quarter of the
image's shorter side tall.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from pydicom.dataset import Dataset

from dicomlens.deid.renderings import frame_renderings, rendering_key
from dicomlens.domain.results import Box

if TYPE_CHECKING:  # the OCR analyzer is optional and loads only when asked for
    from dicomlens.analysis.analyzers.ocr import BurnedInTextReader

SEARCH_MIN_CONFIDENCE = 0.3
SEARCH_MIN_CHARS = 1
VERIFY_MIN_CONFIDENCE = 0.5
VERIFY_MIN_CHARS = 2
ORIENTATIONS = (0, 90)
QUARTER_TURNS = (0, 90, 270)
MAX_TEXT_HEIGHT_FRACTION = 0.25
MIN_LEGIBLE_SIDE_PX = 4
"""No font draws legible letters in fewer rows (the smallest bitmap fonts need 4 to 5): an
image thinner than this holds no legible text, and is not given to the detector, whose
input such a strip would blow up (its short side is enlarged to the detector's size)."""

BoxLocator = Callable[[np.ndarray], Sequence[Box]]
"""Finds text in an 8-bit frame and reads it itself; boxes are fractions of the frame."""


@runtime_checkable
class TextFinder(Protocol):
    """A text detector and a recogniser that reads only where the detector found text."""

    def detect(self, pixels: np.ndarray) -> np.ndarray:
        """``(N, 4, 2)`` quadrilaterals (x, y) in pixel coordinates of ``pixels``."""
        ...

    def recognize(self, pixels: np.ndarray, quads: np.ndarray) -> list[tuple[str, float]]:
        """The text and score read inside each of ``quads``, upright or half-turned (the
        search relies on this to read 270° text in the 90° image)."""
        ...


@dataclass(frozen=True, kw_only=True)
class FoundText:
    """Text found on one frame: its box in the frame's pixels, and what was read there."""

    frame: int
    left: float
    top: float
    right: float
    bottom: float
    text: str
    confidence: float

    @property
    def text_height(self) -> float:
        """The height of the glyphs: the box's short side (labels may run vertically)."""
        return min(self.right - self.left, self.bottom - self.top)

    def to_redact(self) -> bool:
        """Whether the search blacks this out (recall first)."""
        return self.confidence >= SEARCH_MIN_CONFIDENCE and _alnum(self.text) >= SEARCH_MIN_CHARS

    def is_legible(self) -> bool:
        """Whether this is legible text for the verification of a redacted output."""
        return self.confidence >= VERIFY_MIN_CONFIDENCE and _alnum(self.text) >= VERIFY_MIN_CHARS


@dataclass(frozen=True, kw_only=True)
class _Reading:
    quad_box: tuple[float, float, float, float]  # left, top, right, bottom in the turned image
    text: str
    confidence: float


class LocatorFinder:
    """A :data:`BoxLocator` (detects and reads in one step) seen as a :class:`TextFinder`:
    every box it returns counts as text read with full confidence. A locator reads upright
    text only, so a search with it turns each image all three quarter-turns."""

    def __init__(self, locator: BoxLocator) -> None:
        self._locator = locator

    def detect(self, pixels: np.ndarray) -> np.ndarray:
        """The locator's boxes as quadrilaterals in pixels."""
        rows, columns = pixels.shape[:2]
        quads = []
        for box in self._locator(pixels):
            x0, y0 = box.left * columns, box.top * rows
            x1, y1 = x0 + box.width * columns, y0 + box.height * rows
            quads.append([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        return np.asarray(quads, dtype=np.float32).reshape(-1, 4, 2)

    def recognize(self, pixels: np.ndarray, quads: np.ndarray) -> list[tuple[str, float]]:
        """The locator already kept only what it read: each box stands for located text."""
        return [("located text", 1.0)] * len(quads)


class TextSearch:
    """Searches frames for text with one :class:`TextFinder`, ``workers`` images at a time.

    ``orientations`` (counter-clockwise turns) default to :data:`ORIENTATIONS`, or to
    :data:`QUARTER_TURNS` for a :class:`LocatorFinder`, which cannot read half-turned text.

    One instance serves one file (its digest memo is per file); it is safe to use from one
    thread, and runs its own pool.
    """

    def __init__(
        self,
        finder: TextFinder,
        *,
        orientations: Sequence[int] | None = None,
        workers: int = 1,
    ) -> None:
        self._finder = finder
        if orientations is None:
            orientations = QUARTER_TURNS if isinstance(finder, LocatorFinder) else ORIENTATIONS
        self._orientations = tuple(orientations)
        self._workers = max(1, workers)
        self._memo: dict[tuple[bytes, int], tuple[_Reading, ...]] = {}
        self._lock = threading.Lock()
        self.images_examined = 0

    def search(self, frames: np.ndarray, ds: Dataset) -> list[FoundText]:
        """All text found in ``frames`` (``F x H x W`` or ``F x H x W x S`` stored values)."""
        if self._workers == 1:
            return [hit for index in range(len(frames)) for hit in self._frame(frames, ds, index)]
        with ThreadPoolExecutor(self._workers) as pool:
            per_frame = pool.map(lambda index: self._frame(frames, ds, index), range(len(frames)))
            return [hit for hits in per_frame for hit in hits]

    def _frame(self, frames: np.ndarray, ds: Dataset, index: int) -> list[FoundText]:
        rows, columns = frames.shape[1], frames.shape[2]
        found = []
        for rendering in frame_renderings(frames[index], ds, index):
            key = rendering_key(rendering)
            for degrees in self._orientations:
                for reading in self._read(key, rendering, degrees):
                    left, top, right, bottom = unturn_box(
                        reading.quad_box, degrees, rows=rows, columns=columns
                    )
                    found.append(
                        FoundText(
                            frame=index,
                            left=left,
                            top=top,
                            right=right,
                            bottom=bottom,
                            text=reading.text,
                            confidence=reading.confidence,
                        )
                    )
        return found

    def _read(self, key: bytes, rendering: np.ndarray, degrees: int) -> tuple[_Reading, ...]:
        with self._lock:
            known = self._memo.get((key, degrees))
        if known is not None:
            return known
        if min(rendering.shape[:2]) < MIN_LEGIBLE_SIDE_PX:
            return ()
        turned = np.ascontiguousarray(np.rot90(rendering, degrees // 90))
        quads = text_shaped(
            self._finder.detect(turned), rows=turned.shape[0], columns=turned.shape[1]
        )
        readings: tuple[_Reading, ...] = ()
        if len(quads):
            texts = self._finder.recognize(turned, quads)
            readings = tuple(
                _Reading(
                    quad_box=(
                        float(quad[:, 0].min()),
                        float(quad[:, 1].min()),
                        float(quad[:, 0].max()),
                        float(quad[:, 1].max()),
                    ),
                    text=text,
                    confidence=score,
                )
                for quad, (text, score) in zip(quads, texts, strict=True)
            )
        with self._lock:
            self._memo[(key, degrees)] = readings
            self.images_examined += 1
        return readings


def text_shaped(quads: np.ndarray, *, rows: int, columns: int) -> np.ndarray:
    """The ``quads`` whose short side (the height of their glyphs) is at most
    :data:`MAX_TEXT_HEIGHT_FRACTION` of the image's shorter side: the detector also outlines
    large bright shapes (an ultrasound sector, a body), which no recogniser reading can turn
    into a line of text, and reading them would cost as much as the detection."""
    if len(quads) == 0:
        return quads
    widths = quads[:, :, 0].max(axis=1) - quads[:, :, 0].min(axis=1)
    heights = quads[:, :, 1].max(axis=1) - quads[:, :, 1].min(axis=1)
    keep = np.minimum(widths, heights) <= MAX_TEXT_HEIGHT_FRACTION * min(rows, columns)
    kept: np.ndarray = quads[keep]
    return kept


def unturn_box(
    box: tuple[float, float, float, float], degrees: int, *, rows: int, columns: int
) -> tuple[float, float, float, float]:
    """A box (left, top, right, bottom) found in the frame turned ``degrees`` counter-clockwise
    (``np.rot90``) as a box in the frame's own coordinates (``rows`` x ``columns``)."""
    x0, y0, x1, y1 = box
    turns = (degrees // 90) % 4
    if turns == 1:  # turned[i, j] = frame[j, columns - 1 - i]
        return columns - y1, x0, columns - y0, x1
    if turns == 2:
        return columns - x1, rows - y1, columns - x0, rows - y0
    if turns == 3:  # turned[i, j] = frame[rows - 1 - j, i]
        return y0, rows - x1, y1, rows - x0
    return x0, y0, x1, y1


def as_finder(locator: TextFinder | BoxLocator) -> TextFinder:
    """``locator`` as a :class:`TextFinder` (a plain box locator is wrapped)."""
    if isinstance(locator, TextFinder):
        return locator
    return LocatorFinder(locator)


def _alnum(text: str) -> int:
    return sum(character.isalnum() for character in text)


def ocr_text_reader(*, min_confidence: float, min_chars: int) -> BurnedInTextReader | None:
    """The RapidOCR analyzer with these thresholds, or None when it is not installed."""
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        return None
    try:
        from dicomlens.analysis.analyzers.ocr import (  # noqa: PLC0415
            BurnedInTextReader,
            OcrConfig,
        )
    except ImportError:
        return None
    return BurnedInTextReader(config=OcrConfig(min_confidence=min_confidence, min_chars=min_chars))


def ocr_text_finder() -> TextFinder | None:
    """The RapidOCR analyzer's detector and recogniser, or None when it is not installed."""
    # The search's own thresholds apply (FoundText); the reader's are not used by detect().
    return ocr_text_reader(min_confidence=0.0, min_chars=0)
