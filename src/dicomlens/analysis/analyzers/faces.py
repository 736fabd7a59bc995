"""Faces with OpenCV's Haar cascade (opencv-python-headless 4.x ships the cascade files).

A visible face identifies a person: a photograph or a 3D rendering of a head is PHI even
when every tag has been removed, so a face gives labels (``Face``, ``Person``) and a
``face`` finding that says so.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dicomlens.analysis.analyzers._runtime import AnalyzerUnavailableError, as_gray, require
from dicomlens.analysis.analyzers.budget import check_deadline
from dicomlens.analysis.analyzers.spec import (
    PHOTOGRAPHS,
    FaceDetectorConfig,
    FrameRequirement,
    ImageScope,
)
from dicomlens.domain.results import Box, Finding, Label
from dicomlens.ports import AnalyzerInput, AnalyzerOutput

SOURCE = "faces"
CASCADE = "haarcascade_frontalface_default.xml"
CASCADE_WINDOW = 24  # the frontal-face cascade's window: no smaller face is found


_PER_THREAD = threading.local()


def _cascade() -> Any:
    """The cascade, loaded once per thread: OpenCV does not promise that one
    ``CascadeClassifier`` may detect in several threads at once (thread workers).
    """
    classifier = getattr(_PER_THREAD, "cascade", None)
    if classifier is None:
        cv2 = require("cv2", package="opencv-python-headless<5")
        classifier = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / CASCADE))
        if classifier.empty():
            raise AnalyzerUnavailableError(
                f"OpenCV has no {CASCADE} (OpenCV 5 dropped Haar cascades)"
            )
        _PER_THREAD.cascade = classifier
    return classifier


@dataclass(frozen=True, kw_only=True)
class HaarFaceDetector:
    """Frontal faces -> labels ``Face`` and ``Person`` with boxes, and a PHI finding."""

    config: FaceDetectorConfig = field(default_factory=FaceDetectorConfig)

    @property
    def name(self) -> str:
        """``faces``."""
        return "faces"

    @property
    def frame_requirement(self) -> FrameRequirement:
        """Frames (once shrunk to ``max_side``) too small for the cascade's window are
        skipped."""
        return FrameRequirement(
            min_side=CASCADE_WINDOW,
            max_aspect=self.config.max_side / CASCADE_WINDOW,
            max_side=self.config.max_side,
        )

    @property
    def image_scope(self) -> ImageScope:
        """Photographs only: a face shows in a photograph, not in a CT slice."""
        return PHOTOGRAPHS

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        """Detect faces in ``frame``."""
        cv2 = require("cv2", package="opencv-python-headless<5")
        if self.config.threads > 0:
            cv2.setNumThreads(self.config.threads)
        gray = as_gray(frame.pixels)
        rows, columns = gray.shape
        scale = min(1.0, self.config.max_side / max(rows, columns))
        if scale < 1.0:
            gray = cv2.resize(
                gray, (round(columns * scale), round(rows * scale)), interpolation=cv2.INTER_AREA
            )
        gray = cv2.equalizeHist(gray)
        check_deadline()
        side = max(20, round(min(gray.shape) * self.config.min_size_fraction))
        rects, _levels, weights = _cascade().detectMultiScale3(
            gray,
            scaleFactor=self.config.scale_factor,
            minNeighbors=self.config.min_neighbors,
            minSize=(side, side),
            outputRejectLevels=True,
        )
        if len(rects) == 0:
            return AnalyzerOutput()
        height, width = gray.shape
        boxes = []
        confidences = []
        for (x, y, w, h), weight in zip(
            np.asarray(rects), np.asarray(weights).reshape(-1), strict=True
        ):
            boxes.append(Box(left=x / width, top=y / height, width=w / width, height=h / height))
            confidences.append(_confidence(float(weight)))
        return face_output(boxes, confidences, source=SOURCE)


def face_output(boxes: list[Box], confidences: list[float], *, source: str) -> AnalyzerOutput:
    """The labels (``Face``, ``Person``) and the ``face`` finding of faces found at ``boxes``
    (relative to the frame) with ``confidences``, whichever detector found them (OpenCV's
    cascade offline, Rekognition DetectFaces on AWS); nothing when no face was found."""
    if not boxes:
        return AnalyzerOutput()
    confidence = max(confidences)
    label_boxes = tuple(boxes)
    noun = "a face" if len(boxes) == 1 else f"{len(boxes)} faces"
    return AnalyzerOutput(
        labels=(
            Label(
                name="Face",
                confidence=confidence,
                source=source,
                category="person",
                boxes=label_boxes,
            ),
            Label(
                name="Person",
                confidence=confidence,
                source=source,
                category="person",
                boxes=label_boxes,
            ),
        ),
        findings=(
            Finding(
                kind="face",
                message=f"{noun} visible: a face identifies the patient (PHI)",
                confidence=confidence,
                boxes=label_boxes,
                source=source,
            ),
        ),
    )


def _confidence(weight: float) -> float:
    """Map the cascade's last-stage weight (about 0..10) to a 0.5..0.99 confidence."""
    return round(min(0.99, 0.5 + 0.49 * (1.0 - math.exp(-max(weight, 0.0) / 3.0))), 4)
