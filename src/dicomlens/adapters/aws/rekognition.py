"""Rekognition analyzers: DetectLabels, DetectText and DetectFaces on the rendered frame.

Rekognition takes PNG or JPEG only, at most 5 MB as bytes, at least 80 px and at most
10,000 px a side; so the analyzers send the displayed 8-bit frame (the one the preview is
made from), re-encoded as JPEG and scaled down when needed, never the DICOM file. Results map
to the same :class:`~dicomlens.domain.results.Label` / ``Finding`` / ``TextLine`` model as the
offline analyzers (confidences as fractions, boxes relative to the frame).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from dicomlens.adapters.aws.clients import AWS_ERRORS, make_client, translate
from dicomlens.analysis.analyzers.faces import face_output
from dicomlens.analysis.analyzers.spec import PHOTOGRAPHS, ImageScope
from dicomlens.analysis.analyzers.text_findings import text_findings
from dicomlens.domain.results import Box, Label, TextLine
from dicomlens.ports import AnalyzerInput, AnalyzerOutput

SOURCE = "rekognition"
MAX_BYTES = 5 * 1024 * 1024
MIN_SIDE = 80
MAX_SIDE = 10_000
_TARGET_SIDE = 4096  # well inside the limits; detail beyond this does not change labels


def encode_for_rekognition(pixels: np.ndarray) -> bytes:
    """``pixels`` (8-bit gray or RGB) as a JPEG that Rekognition accepts.

    Scaled down to at most 4096 px a side, up to at least 80 px, and re-encoded at lower
    quality until it fits in 5 MB.
    """
    image = Image.fromarray(np.ascontiguousarray(pixels.astype(np.uint8, copy=False)))
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    width, height = image.size
    scale = min(1.0, _TARGET_SIDE / max(width, height))
    if min(width, height) * scale < MIN_SIDE:
        scale = MIN_SIDE / min(width, height)
    if scale != 1.0:
        size = (
            min(MAX_SIDE, max(MIN_SIDE, round(width * scale))),
            min(MAX_SIDE, max(MIN_SIDE, round(height * scale))),
        )
        image = image.resize(size, Image.Resampling.LANCZOS)
    for quality in (90, 75, 60, 40):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        if buffer.tell() <= MAX_BYTES:
            return buffer.getvalue()
    image.thumbnail((2048, 2048))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=60)
    return buffer.getvalue()


def _box(geometry: dict[str, Any] | None) -> Box | None:
    if not geometry or "BoundingBox" not in geometry:
        return None
    raw = geometry["BoundingBox"]

    def clip(value: Any) -> float:
        return round(min(max(float(value), 0.0), 1.0), 5)

    return Box(
        left=clip(raw.get("Left", 0)),
        top=clip(raw.get("Top", 0)),
        width=clip(raw.get("Width", 0)),
        height=clip(raw.get("Height", 0)),
    )


def _fraction(confidence: Any) -> float:
    return round(min(max(float(confidence) / 100.0, 0.0), 1.0), 4)


@functools.cache
def _client(region: str | None) -> Any:
    return make_client("rekognition", region=region)


@dataclass(frozen=True, kw_only=True)
class _Rekognition:
    """Settings only, so the analyzer pickles into worker processes; the client is made on
    first use in each process (or given, for tests)."""

    region: str | None = None
    min_confidence: float = 70.0
    client: Any = field(default=None, compare=False, repr=False)

    def _rekognition(self) -> Any:
        return self.client if self.client is not None else _client(self.region)

    def _detect_lines(self, pixels: np.ndarray) -> list[TextLine]:
        """DetectText's LINE entries at or above ``min_confidence`` that have a box (WORD
        entries repeat the lines); service errors as domain errors."""
        try:
            response = self._rekognition().detect_text(
                Image={"Bytes": encode_for_rekognition(pixels)},
                Filters={"WordFilter": {"MinConfidence": self.min_confidence}},
            )
        except AWS_ERRORS as exc:
            raise translate(exc, action="Rekognition DetectText") from exc
        lines = []
        for raw in response.get("TextDetections", []):
            if raw.get("Type") != "LINE" or float(raw.get("Confidence", 0)) < self.min_confidence:
                continue
            box = _box(raw.get("Geometry"))
            if box is None:
                continue
            lines.append(
                TextLine(
                    text=str(raw.get("DetectedText", "")),
                    confidence=_fraction(raw["Confidence"]),
                    box=box,
                )
            )
        return lines


@dataclass(frozen=True, kw_only=True)
class RekognitionLabels(_Rekognition):
    """DetectLabels: what the picture shows, with boxes for located instances."""

    max_labels: int = 10

    @property
    def name(self) -> str:
        """``rekognition-labels``."""
        return "rekognition-labels"

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        """Labels above ``min_confidence``, at most ``max_labels``."""
        try:
            response = self._rekognition().detect_labels(
                Image={"Bytes": encode_for_rekognition(frame.pixels)},
                MaxLabels=self.max_labels,
                MinConfidence=self.min_confidence,
            )
        except AWS_ERRORS as exc:
            raise translate(exc, action="Rekognition DetectLabels") from exc
        labels = []
        for raw in response.get("Labels", []):
            boxes = tuple(
                box
                for box in (_box(instance) for instance in raw.get("Instances", []))
                if box is not None
            )
            categories = raw.get("Categories") or []
            labels.append(
                Label(
                    name=str(raw["Name"]),
                    confidence=_fraction(raw.get("Confidence", 0)),
                    source=SOURCE,
                    category=str(categories[0]["Name"]) if categories else None,
                    boxes=boxes,
                )
            )
        return AnalyzerOutput(labels=tuple(labels))


@dataclass(frozen=True, kw_only=True)
class RekognitionText(_Rekognition):
    """DetectText: burned-in text (LINE entries; WORD entries repeat them)."""

    @property
    def name(self) -> str:
        """``rekognition-text``."""
        return "rekognition-text"

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        """Text lines as PHI (``burned_in_text``) and the findings of
        :func:`~dicomlens.analysis.analyzers.text_findings.text_findings`."""
        # The same findings as the offline OCR analyzer, from Rekognition's lines.
        return text_findings(self._detect_lines(frame.pixels), frame, source=SOURCE)


@dataclass(frozen=True, kw_only=True)
class RekognitionFaces(_Rekognition):
    """DetectFaces: a visible face identifies the patient; the same labels and ``face``
    finding as the offline detector (:func:`~dicomlens.analysis.analyzers.faces.face_output`)."""

    @property
    def name(self) -> str:
        """``rekognition-faces``."""
        return "rekognition-faces"

    @property
    def image_scope(self) -> ImageScope:
        """Photographs only, as the offline face detector."""
        return PHOTOGRAPHS

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        """Faces at or above ``min_confidence``, with their boxes."""
        try:
            response = self._rekognition().detect_faces(
                Image={"Bytes": encode_for_rekognition(frame.pixels)}, Attributes=["DEFAULT"]
            )
        except AWS_ERRORS as exc:
            raise translate(exc, action="Rekognition DetectFaces") from exc
        boxes, confidences = [], []
        for raw in response.get("FaceDetails", []):
            box = _box(raw)
            if box is None or float(raw.get("Confidence", 0)) < self.min_confidence:
                continue
            boxes.append(box)
            confidences.append(_fraction(raw["Confidence"]))
        return face_output(boxes, confidences, source=SOURCE)


LOCATOR_MIN_CONFIDENCE = 50.0
"""De-identification looks for text with recall first: lines read with half of Rekognition's
confidence still count as text to black out (and as text left, when verifying)."""


@dataclass(frozen=True, kw_only=True)
class RekognitionTextLocator(_Rekognition):
    """DetectText as de-identification's text locator (a ``BoxLocator``): where each LINE
    of text is, as fractions of the frame. De-identification turns each image a quarter at
    a time and searches again, and verifies its output the same way; Rekognition's errors
    (throttling included) propagate, so the request fails rather than certify unsearched
    pixels."""

    min_confidence: float = LOCATOR_MIN_CONFIDENCE

    def __call__(self, pixels: np.ndarray) -> list[Box]:
        """The boxes (with an area) of the LINE detections at or above ``min_confidence``."""
        boxes = [line.box for line in self._detect_lines(pixels)]
        return [box for box in boxes if box.width > 0 and box.height > 0]
