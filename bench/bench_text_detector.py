"""What a cheaper burned-in text search would cost in recall: the data behind keeping the
full-resolution text detector (de-identification's cine speed and the analyzer's 15 ms goal).

    .venv/bin/python bench/bench_text_detector.py [--seed 3] [--other-model PATH]

The detector is RapidOCR's PP-OCRv4 DB model (the one ``rapidocr-onnxruntime`` ships, run by
the OCR analyzer and the de-identification search). Printed:

1. **Speed** of one detector run (onnxruntime, one thread): the model at 512x512, the size it
   examines a 512x512 frame at, and at 256x256; and runs per second with two threads at once
   (two cores), which bounds the de-identification search: each frame takes at least two runs
   (upright and turned 90°).
2. **Recall on small text**, per glyph height, of three ways to search (a box of the option
   must overlap the drawn text):

   * ``full``: the detector at the frame's own resolution (what dicomlens does);
   * ``half``: the detector on the frame shrunk 2x (2x2 blocks keep their most contrasting
     sample, which keeps thin strokes), about a quarter of the cost: a first stage that
     would send only the regions it fires on to the full-resolution detector;
   * ``gated 90°``: text turned 90° in a frame, found only where the upright run's
     probability map is above 0.003 (a second stage limited to those regions would make the
     90° run nearly free on text-free frames).

   The frames are generated: the OCR recall set's textured body (``corpus.burned_in``) on a
   dark or bright background, one line of a name, an ID or a date in one of five fonts, 7 to
   11 and 12 to 24 pixels tall, 512x512.
3. With ``--other-model``, the same for another DB detection model (e.g. PP-OCRv3's
   ``ch_PP-OCRv3_det_infer.onnx`` from ``rapidocr-onnxruntime==1.2.3``'s wheel).

Nothing is asserted: a shortcut is acceptable only if it finds every line ``full`` finds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ImageDraw, ImageFont

try:
    import cv2
    import matplotlib
except ImportError:  # pragma: no cover - dev and analyzers extras
    sys.exit("bench_text_detector needs opencv (the analyzers extra) and matplotlib (dev)")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from corpus.burned_in import anatomy
from dicomlens.analysis.analyzers._runtime import onnx_session
from dicomlens.analysis.analyzers.ocr import BurnedInTextReader, OcrConfig, _engine

FONT_DIR = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSerif.ttf")
TEXTS = ("ZELAZNY^MIRANDA", "MRN884211", "03/02/1961", "Smith, John", "Name: DOE^JANE")
SMALL, LARGER = (7, 8, 9, 10, 11), (12, 14, 16, 18, 20, 24)
GATE_THRESHOLD = 0.003
FRAMES_PER_SIZE = 12

Box = tuple[int, int, int, int]


def frames(sizes: tuple[int, ...], seed: int) -> list[tuple[int, np.ndarray, Box]]:
    """(glyph size, 512x512 frame, text box) with one line of text each."""
    pick = random.Random(seed)
    rng = np.random.default_rng(seed)
    out = []
    for index in range(FRAMES_PER_SIZE * len(sizes)):
        size = sizes[index % len(sizes)]
        dark = index % 3 != 2
        picture = anatomy(rng, dark=dark)
        draw = ImageDraw.Draw(picture)
        name = (*FONTS, "pillow-default")[index % (len(FONTS) + 1)]
        font: Any = (
            ImageFont.load_default(size=size)
            if name == "pillow-default"
            else ImageFont.truetype(str(FONT_DIR / name), size)
        )
        text = pick.choice(TEXTS)
        x = pick.randrange(5, 200)
        y = pick.choice((pick.randrange(4, 40), pick.randrange(460, 500 - size)))
        ink = pick.randrange(200, 256) if dark else pick.randrange(0, 50)
        draw.text((x, y), text, fill=ink, font=font)
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        out.append((size, np.asarray(picture), (left, top, right, bottom)))
    return out


class Detector:
    """One DB detection model: its raw probability map, and RapidOCR's boxes from it."""

    def __init__(self, model: Path | None) -> None:
        self.reader = BurnedInTextReader(config=OcrConfig(min_confidence=0, min_chars=0))
        self.engine = _engine(self.reader.config.det_limit_side_len, 1)
        if model is not None:
            self.engine.text_det.infer.session = onnx_session(str(model), 1)

    def boxes(self, gray: np.ndarray) -> np.ndarray:
        return self.reader.detect(gray)

    def probability(self, gray: np.ndarray) -> np.ndarray:
        """The model's text probability map for ``gray`` at its own size (padded to 32)."""
        rows, columns = gray.shape
        padded = np.zeros((-(-rows // 32) * 32, -(-columns // 32) * 32), np.uint8)
        padded[:rows, :columns] = gray
        normalized = (padded.astype(np.float32) / 255 - 0.5) / 0.5
        tensor = np.repeat(normalized[None, None], 3, axis=1)
        probability: np.ndarray = self.engine.text_det.infer(tensor)[0][0, 0]
        return probability[:rows, :columns]

    def run_ms(self, side: int, repeats: int = 8) -> float:
        tensor = np.random.default_rng(0).random((1, 3, side, side), dtype=np.float32)
        self.engine.text_det.infer(tensor)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            self.engine.text_det.infer(tensor)
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    def runs_per_second(self, threads: int = 2, each: int = 8) -> float:
        tensor = np.random.default_rng(0).random((1, 3, 512, 512), dtype=np.float32)

        def loop() -> None:
            for _ in range(each):
                self.engine.text_det.infer(tensor)

        workers = [threading.Thread(target=loop) for _ in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return threads * each / (time.perf_counter() - start)


def contrast_pool(gray: np.ndarray) -> np.ndarray:
    """``gray`` shrunk 2x, each 2x2 block giving its sample farthest from the local level."""
    rows, columns = gray.shape[0] // 2 * 2, gray.shape[1] // 2 * 2
    blocks = gray[:rows, :columns].reshape(rows // 2, 2, columns // 2, 2)
    high = blocks.max(axis=(1, 3)).astype(np.int16)
    low = blocks.min(axis=(1, 3)).astype(np.int16)
    level = cv2.medianBlur(blocks.mean(axis=(1, 3)).astype(np.uint8), 5).astype(np.int16)
    return np.where(high - level > level - low, high, low).astype(np.uint8)


def overlaps(quads: np.ndarray, box: Box) -> bool:
    left, top, right, bottom = box
    return any(
        q[:, 0].min() < right
        and q[:, 0].max() > left
        and q[:, 1].min() < bottom
        and q[:, 1].max() > top
        for q in quads
    )


def covered(mask: np.ndarray, box: Box) -> bool:
    left, top, right, bottom = box
    return bool(mask[max(0, top) : bottom + 1, max(0, left) : right + 1].any())


def full(detector: Detector, gray: np.ndarray, box: Box) -> bool:
    return overlaps(detector.boxes(gray), box)


def half(detector: Detector, gray: np.ndarray, box: Box) -> bool:
    fired = detector.probability(contrast_pool(gray)) > 0.05
    fired = cv2.dilate(fired.astype(np.uint8), np.ones((5, 5), np.uint8))
    mask = cv2.resize(fired, gray.shape[::-1], interpolation=cv2.INTER_NEAREST)
    return covered(mask, box)


def gated_90(detector: Detector, gray: np.ndarray, box: Box) -> bool:
    """Text turned 90° in a frame: the search's 90° run turns it upright again (``full`` on
    ``gray``); gated, that run would only look where the frame's upright run fired."""
    frame = np.ascontiguousarray(np.rot90(gray, -1))  # the frame, holding vertical text
    fired = detector.probability(frame) > GATE_THRESHOLD
    fired = cv2.dilate(fired.astype(np.uint8), np.ones((7, 7), np.uint8))
    return full(detector, gray, box) and covered(np.rot90(fired), box)


Search = Callable[[Detector, np.ndarray, Box], bool]


def recall_table(detector: Detector, seed: int) -> None:
    searches: dict[str, Search] = {"full": full, "half": half, "gated 90°": gated_90}
    print(f"{'glyphs (px)':<12}" + "".join(f"{name:>12}" for name in searches))
    for sizes in (SMALL, LARGER):
        per_size: dict[int, dict[str, int]] = {}
        for size, gray, box in frames(sizes, seed):
            counts = per_size.setdefault(size, dict.fromkeys(searches, 0))
            for name, search in searches.items():
                counts[name] += search(detector, gray, box)
        for size, counts in sorted(per_size.items()):
            print(
                f"{size:<12}"
                + "".join(f"{counts[name]:>9}/{FRAMES_PER_SIZE:<2}" for name in searches)
            )


def report(label: str, detector: Detector, seed: int) -> None:
    print(f"\n## {label}")
    print(
        f"one run, 1 thread: {detector.run_ms(512):.1f} ms at 512x512, "
        f"{detector.run_ms(256):.1f} ms at 256x256; two threads at once: "
        f"{detector.runs_per_second():.1f} runs/s at 512x512 "
        "(the de-identification search needs 2 per frame and rendering)"
    )
    recall_table(detector, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--other-model", type=Path, help="another DB detection model (.onnx)")
    args = parser.parse_args()
    report("PP-OCRv4 (shipped, used by dicomlens)", Detector(None), args.seed)
    if args.other_model is not None:  # replaces the model in the (cached) engine
        report(args.other_model.name, Detector(args.other_model), args.seed)


if __name__ == "__main__":
    main()
