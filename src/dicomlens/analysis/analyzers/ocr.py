"""Burned-in text with RapidOCR (``rapidocr-onnxruntime`` 1.4.4 ships its models in the wheel).

Findings: ``burned-in text`` (where text is), ``burned-in PHI suspected`` (text that matches
the file's patient name, ID, birth date or accession number, or looks like a name, date or
record number), and ``burned-in-annotation-mismatch`` when the file declares
BurnedInAnnotation NO yet shows text. The text itself is PHI: it is returned as
``burned_in_text`` (stored under the result's PHI fields), never put in a message or a log.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dicomlens.analysis.analyzers._runtime import as_rgb, onnx_session, require
from dicomlens.analysis.analyzers.budget import CancellableSession, check_deadline
from dicomlens.analysis.analyzers.spec import (
    ANALYZER_THREADS,
    OCR_MIN_CONFIDENCE,
    FrameRequirement,
)
from dicomlens.analysis.analyzers.text_findings import text_findings
from dicomlens.domain.results import Box, TextLine
from dicomlens.ports import AnalyzerInput, AnalyzerOutput

SOURCE = "ocr"

# No glyph is legible in fewer rows; thinner frames are skipped.
OCR_FRAME = FrameRequirement(min_side=8)

# RapidOCR scales a frame's short side up to the detector's size keeping the aspect, so a
# thin strip became a detector input of hundreds of millions of pixels (a 1x513 frame ran for
# over a minute). Frames are padded (below or to the right, with black) to at most this
# aspect first; boxes in the original part keep their coordinates.
MAX_DETECTOR_ASPECT = 4


@dataclass(frozen=True, kw_only=True)
class OcrConfig:
    """``min_confidence``: lines read with a lower score are dropped; ``min_chars``: lines with
    fewer letters and digits are dropped (specks read as ``.`` or ``1``).
    ``max_side``: larger frames are shrunk to it first (speed; burned-in text is large on
    large frames); ``det_limit_side_len``: the detector enlarges a shorter side to it.
    """

    min_confidence: float = OCR_MIN_CONFIDENCE
    min_chars: int = 2
    max_side: int = 1024
    det_limit_side_len: int = 512
    threads: int = ANALYZER_THREADS


@functools.cache
def _engine(det_limit_side_len: int, threads: int) -> Any:
    module = require("rapidocr_onnxruntime", package="rapidocr-onnxruntime==1.4.4")
    require("cv2", package="opencv-python-headless<5")
    engine = module.RapidOCR(
        use_cls=False,  # burned-in annotations are upright
        print_verbose=False,
        intra_op_num_threads=threads if threads > 0 else -1,
        inter_op_num_threads=1,
        det_limit_side_len=det_limit_side_len,
    )
    # RapidOCR turns ONNX Runtime's memory arena off; without it, detector runs from several
    # threads serialise on allocation (measured: no gain from a second thread). The same
    # model in a session with the arena on (its input is always one frame's size).
    detector = Path(module.__file__ or ".").parent / "models" / "ch_PP-OCRv4_det_infer.onnx"
    if detector.is_file():
        engine.text_det.infer.session = onnx_session(str(detector), threads)
    _normalize_by_table(engine.text_det)
    # Every model run of the engine stops when the analyzer's time budget runs out.
    ort = require("onnxruntime", package="onnxruntime")
    for owner in (engine.text_det.infer, engine.text_rec.session):
        if not isinstance(owner.session, CancellableSession):
            owner.session = CancellableSession(owner.session, ort.RunOptions)
    return engine


def _normalize_by_table(detector: Any) -> None:
    """Make ``detector`` (RapidOCR's TextDetector) normalise 8-bit pictures by table lookup.

    RapidOCR's ``DetPreProcess.normalize`` computes ``(x * scale - mean) / std`` on every
    sample in float64 (its mean and std are float64 arrays), then casts to float32: about
    12 ms of a 512x512 detection's ~70. An 8-bit sample has 256 values, so the same float32
    values come from a 256-entry table per channel, computed the same way (about 1.3 ms,
    laid out channel-first as the model takes them). A gray picture (``H x W``) is taken
    as it is: each channel is what its BGR copy would give, and a channel whose table
    equals the previous one's is a copy of it (mean and std are the same for the three).
    Other pictures keep the original path.
    """
    base = type(detector.get_preprocess(1))
    original = detector.get_preprocess

    class TablePreProcess(base):  # type: ignore[misc,valid-type]
        def __call__(self, img: np.ndarray) -> np.ndarray | None:
            if img.dtype != np.uint8 or img.ndim not in (2, 3):
                return super().__call__(img)  # type: ignore[no-any-return]
            resized = self.resize(img)
            if resized is None:
                return None
            values = (np.arange(256, dtype=np.float32) * self.scale)[:, None]
            table = ((values - self.mean) / self.std).astype(np.float32)
            if resized.ndim == 2:  # a gray picture: the same samples in all three channels
                resized = resized[:, :, None]
                channels = [0] * table.shape[1]
            else:
                channels = list(range(resized.shape[2]))
            out = np.empty((1, len(channels), *resized.shape[:2]), dtype=np.float32)
            for index, channel in enumerate(channels):
                if (
                    index
                    and np.array_equal(table[:, index], table[:, index - 1])
                    and (channel == channels[index - 1])
                ):
                    out[0, index] = out[0, index - 1]  # the same table on the same samples
                else:
                    np.take(table[:, index], resized[:, :, channel], out=out[0, index])
            return out

    def table_preprocess(max_wh: int) -> Any:
        made = original(max_wh)
        return TablePreProcess(made.limit_side_len, made.limit_type, made.mean, made.std)

    detector.get_preprocess = table_preprocess


def _bounded_aspect(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (or a gray ``H x W`` picture) padded with black below or to the right to at
    most ``MAX_DETECTOR_ASPECT``."""
    rows, columns = rgb.shape[:2]
    pad_rows = max(0, -(-columns // MAX_DETECTOR_ASPECT) - rows)
    pad_columns = max(0, -(-rows // MAX_DETECTOR_ASPECT) - columns)
    if not pad_rows and not pad_columns:
        return rgb
    return np.pad(rgb, ((0, pad_rows), (0, pad_columns), *((0, 0),) * (rgb.ndim - 2)))


def _shrunk(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """``rgb`` shrunk so that its long side is at most ``max_side``, and the scale used."""
    rows, columns = rgb.shape[:2]
    scale = min(max_side / max(rows, columns), 1.0)
    if scale < 1.0:
        size = (max(1, round(columns * scale)), max(1, round(rows * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
    return rgb, scale


@dataclass(frozen=True, kw_only=True)
class BurnedInTextReader:
    """OCR of the rendered frame, with PHI matching against the file's own identifiers."""

    config: OcrConfig = OcrConfig()

    @property
    def name(self) -> str:
        """``ocr``."""
        return "ocr"

    @property
    def frame_requirement(self) -> FrameRequirement:
        """Frames thinner than a glyph are skipped; larger frames are read at ``max_side``."""
        return FrameRequirement(min_side=OCR_FRAME.min_side, max_side=self.config.max_side)

    def read(self, pixels: np.ndarray) -> tuple[TextLine, ...]:
        """The text lines in ``pixels`` with relative boxes, top to bottom."""
        rgb, _scale = _shrunk(as_rgb(pixels), self.config.max_side)
        rows, columns = rgb.shape[:2]
        engine = _engine(self.config.det_limit_side_len, self.config.threads)
        check_deadline()
        picture = np.ascontiguousarray(_bounded_aspect(rgb)[:, :, ::-1])
        result, _elapsed = engine(picture, use_cls=False)
        check_deadline()
        lines = []
        for polygon, text, score in result or ():
            confidence = float(score)
            if confidence < self.config.min_confidence:
                continue
            if sum(character.isalnum() for character in str(text)) < self.config.min_chars:
                continue
            points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
            x0, y0 = np.clip(points.min(axis=0), 0, None)
            if x0 >= columns or y0 >= rows:  # wholly in the padding
                continue
            x1 = min(float(points[:, 0].max()), columns)
            y1 = min(float(points[:, 1].max()), rows)
            box = Box(
                left=round(float(x0) / columns, 5),
                top=round(float(y0) / rows, 5),
                width=round(max(x1 - float(x0), 0.0) / columns, 5),
                height=round(max(y1 - float(y0), 0.0) / rows, 5),
            )
            lines.append(
                TextLine(text=str(text), confidence=round(min(confidence, 1.0), 4), box=box)
            )
        return tuple(lines)

    def detect(self, pixels: np.ndarray) -> np.ndarray:
        """Where text is in ``pixels`` (the detection model only, no reading): an ``(N, 4, 2)``
        array of quadrilaterals in pixel coordinates of ``pixels`` (x, y)."""
        gray = pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 1)
        if gray:
            source = np.ascontiguousarray(pixels.reshape(pixels.shape[:2]), dtype=np.uint8)
        else:
            source = as_rgb(pixels)
        rgb, scale = _shrunk(source, self.config.max_side)
        rows, columns = rgb.shape[:2]
        engine = _engine(self.config.det_limit_side_len, self.config.threads)
        bounded = _bounded_aspect(rgb)
        # a gray picture goes in as it is (its BGR copy would hold the same three channels)
        picture = np.ascontiguousarray(bounded if gray else bounded[:, :, ::-1])
        quads, _elapsed = engine.text_det(picture)
        if quads is None or len(quads) == 0:
            return np.zeros((0, 4, 2), dtype=np.float32)
        found = np.asarray(quads, dtype=np.float32).reshape(-1, 4, 2)
        inside = (found[:, :, 0].min(axis=1) < columns) & (found[:, :, 1].min(axis=1) < rows)
        scaled: np.ndarray = found[inside] / scale
        return scaled

    def recognize(self, pixels: np.ndarray, quads: np.ndarray) -> list[tuple[str, float]]:
        """The text read inside each of ``quads`` (from :meth:`detect` on the same pixels),
        with its score: the better of the upright and the half-turned reading, since the
        detector also finds text that stands upside down."""
        if len(quads) == 0:
            return []
        rgb = np.ascontiguousarray(as_rgb(pixels)[:, :, ::-1])
        engine = _engine(self.config.det_limit_side_len, self.config.threads)
        crops = engine.get_crop_img_list(rgb, [q.astype(np.float32) for q in quads])
        both = [np.ascontiguousarray(c) for c in crops] + [
            np.ascontiguousarray(np.rot90(c, 2)) for c in crops
        ]
        readings, _elapsed = engine.text_rec(both)
        count = len(crops)
        best = []
        for upright, turned in zip(readings[:count], readings[count:], strict=True):
            text, score = max(upright, turned, key=lambda reading: float(reading[1]))
            best.append((str(text), float(score)))
        return best

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        """Read the frame's text and judge whether it shows PHI."""
        return text_findings(self.read(frame.pixels), frame, source=SOURCE)
