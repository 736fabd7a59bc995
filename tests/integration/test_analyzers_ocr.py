"""Burned-in text: recall of burned-in patient names on generated images, and no false
positives on the text-free images of the corpus.

Given 48 generated 512x512 frames (a synthetic "anatomy" blob on a dark or a bright
background, a patient name burned into a corner in one of several fonts and sizes, and
sometimes an ID, a date or scanner text), when the OCR analyzer reads them with the
frame's PHI fields, then the patient name is reported as ``burned-in PHI suspected`` with
a box over the drawn name in >= 90% of the dark-background frames.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

pytest.importorskip("rapidocr_onnxruntime")
matplotlib = pytest.importorskip("matplotlib")

from corpus.burned_in import anatomy  # noqa: E402
from corpus.real import real_files  # noqa: E402
from dicomlens.analysis.analyzers import (  # noqa: E402
    AnalyzerSelection,
    BurnedInTextReader,
    build_analyzers,
)
from dicomlens.analysis.pipeline import AnalysisOptions, analyze_file  # noqa: E402
from dicomlens.domain.results import Box, ImageSummary, PhiFields  # noqa: E402
from dicomlens.ports import AnalyzerInput  # noqa: E402

FONT_DIR = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSerif.ttf",
    "STIXGeneral.ttf",
    "pillow-default",
)
NAMES = (
    ("DOE", "JOHN"),
    ("SMITH", "ANNA"),
    ("GARCIA", "MARIA"),
    ("MUELLER", "HANS"),
    ("NGUYEN", "LINH"),
    ("OKAFOR", "CHIDI"),
    ("ROSSI", "LUCA"),
    ("KOWALSKI", "PIOTR"),
    ("TANAKA", "YUKI"),
    ("OBRIEN", "SEAN"),
    ("SILVA", "JOAO"),
    ("JOHANSSON", "ERIK"),
    ("PETROV", "IVAN"),
    ("LAURENT", "CLAIRE"),
    ("MORGAN", "OLIVIA"),
    ("HASSAN", "OMAR"),
)
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
SET_SIZE = 48  # 32 dark, 16 bright

# Text-free images of the corpus (checked by eye): CT, MR, CR, NM, SEG, OT.
TEXT_FREE = (
    "CT_small.dcm",
    "MR_small.dcm",
    "693_UNCI.dcm",
    "eCT_Supplemental.dcm",
    "MR2_UNCR.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "examples_overlay.dcm",
    "emri_small.dcm",
    "RG3_UNCI.dcm",
    "JPEG2000.dcm",
    "JPEG-LL.dcm",
    "liver_1frame.dcm",
    "image_dfl.dcm",
)


@dataclass(frozen=True)
class BurnedIn:
    """One generated frame and what was burned into it."""

    pixels: np.ndarray
    phi: PhiFields
    name_box: Box
    dark: bool
    font: str
    size: int
    corner: str


def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if name == "pillow-default":
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(FONT_DIR / name), size)


def burned_in_set(count: int = SET_SIZE, seed: int = 5) -> list[BurnedIn]:
    """``count`` frames, two thirds on dark backgrounds, with names in varied fonts/corners."""
    random_ = random.Random(seed)
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        dark = index % 3 != 2
        family, given = NAMES[index % len(NAMES)]
        font_name = FONTS[index % len(FONTS)]
        size = (12, 14, 16, 18, 20, 24)[(index // len(FONTS)) % 6]
        corner = CORNERS[index % len(CORNERS)]
        shown = random_.choice(
            (
                f"{family}^{given}",
                f"{family}, {given}",
                f"{given.title()} {family.title()}",
                f"{family} {given}",
                f"Name: {family}^{given}",
            )
        )
        patient_id = f"{random_.randrange(10**6, 10**7)}"
        year, month, day = (
            random_.randrange(1930, 2000),
            random_.randrange(1, 13),
            random_.randrange(1, 29),
        )
        birth = f"{year}{month:02d}{day:02d}"
        lines = [shown]
        if random_.random() < 0.5:
            lines.append(f"ID {patient_id}")
        if random_.random() < 0.5:
            lines.append(f"{birth[6:]}/{birth[4:6]}/{birth[:4]}")
        if random_.random() < 0.5:
            lines.append(random_.choice(("kVp 120  mAs 250", "W 400 L 40", "SE 3 IM 42")))
        picture = anatomy(rng, dark=dark)
        draw = ImageDraw.Draw(picture)
        font = _font(font_name, size)
        ink = random_.randrange(200, 256) if dark else random_.randrange(0, 50)
        line_height = round(size * 1.35)
        widths = [draw.textbbox((0, 0), line, font=font)[2] for line in lines]
        block_height = line_height * len(lines)
        margin = 8
        x = margin if corner.endswith("left") else 512 - margin - max(widths)
        y = margin if corner.startswith("top") else 512 - margin - block_height
        name_bbox = (0, 0, 0, 0)
        for number, line in enumerate(lines):
            line_x = x if corner.endswith("left") else 512 - margin - widths[number]
            position = (line_x, y + number * line_height)
            draw.text(position, line, fill=ink, font=font)
            if number == 0:
                name_bbox = draw.textbbox(position, line, font=font)
        left, top, right, bottom = name_bbox
        frames.append(
            BurnedIn(
                pixels=np.asarray(picture),
                phi=PhiFields(
                    patient_name=f"{family}^{given}",
                    patient_id=patient_id,
                    patient_birth_date=birth,
                    accession_number=f"A{random_.randrange(10**5, 10**6)}",
                ),
                name_box=Box(
                    left=left / 512,
                    top=top / 512,
                    width=(right - left) / 512,
                    height=(bottom - top) / 512,
                ),
                dark=dark,
                font=font_name,
                size=size,
                corner=corner,
            )
        )
    return frames


def _overlaps(a: Box, b: Box) -> bool:
    return (
        a.left < b.left + b.width
        and b.left < a.left + a.width
        and a.top < b.top + b.height
        and b.top < a.top + a.height
    )


def name_found(frame: BurnedIn, reader: BurnedInTextReader) -> bool:
    """Whether the reader flags the burned-in name as suspected PHI, with a box over it."""
    output = reader.analyze(
        AnalyzerInput(
            pixels=frame.pixels, kind="dicom", summary=ImageSummary(modality="CT"), phi=frame.phi
        )
    )
    for finding in output.findings:
        if finding.kind == "burned-in PHI suspected" and "name" in finding.message:
            return any(_overlaps(box, frame.name_box) for box in finding.boxes)
    return False


@pytest.fixture(scope="module")
def reader() -> BurnedInTextReader:
    (analyzer,) = build_analyzers(AnalyzerSelection(names=("ocr",)))
    assert isinstance(analyzer, BurnedInTextReader)
    return analyzer


@pytest.fixture(scope="module")
def recall(reader: BurnedInTextReader) -> dict[str, tuple[int, int]]:
    """Background -> (names found, frames)."""
    counts = {"dark": [0, 0], "bright": [0, 0]}
    misses = []
    for frame in burned_in_set():
        key = "dark" if frame.dark else "bright"
        counts[key][1] += 1
        if name_found(frame, reader):
            counts[key][0] += 1
        else:
            misses.append(f"{key} {frame.font} {frame.size}px {frame.corner}")
    print(f"burned-in name recall: {counts}; missed: {misses}", file=sys.stderr)
    return {key: (found, total) for key, (found, total) in counts.items()}


def test_the_generated_set_is_large_and_varied() -> None:
    frames = burned_in_set()
    assert len(frames) >= 40
    assert {frame.font for frame in frames} == set(FONTS)
    assert {frame.corner for frame in frames} == set(CORNERS)
    assert {frame.dark for frame in frames} == {True, False}
    assert len({frame.size for frame in frames}) >= 4


def test_burned_in_names_on_dark_backgrounds_are_found(recall: dict[str, tuple[int, int]]) -> None:
    found, total = recall["dark"]
    assert found / total >= 0.9, recall


def test_burned_in_names_on_bright_backgrounds_are_found(
    recall: dict[str, tuple[int, int]],
) -> None:
    found, total = recall["bright"]
    assert found / total >= 0.8, recall


@pytest.fixture(scope="module")
def corpus() -> dict[str, Path]:
    files = {path.name: path for path in real_files()}
    if not all(name in files for name in TEXT_FREE):
        pytest.skip("pydicom-data is not installed")
    return files


def test_text_free_corpus_images_give_no_text_findings(corpus: dict[str, Path]) -> None:
    analyzers = build_analyzers(AnalyzerSelection(names=("classifier", "faces", "ocr")))
    options = AnalysisOptions(analyzers=analyzers)
    false_positives = {}
    for name in TEXT_FREE:
        result = analyze_file(corpus[name], options).result
        noise = [
            f.kind
            for f in result.findings
            if f.source in ("ocr", "faces") or f.kind == "analyzer-failed"
        ]
        if noise or result.phi.burned_in_text:
            false_positives[name] = noise
    print(
        f"false positives on {len(TEXT_FREE)} text-free images: {false_positives}", file=sys.stderr
    )
    assert false_positives == {}


def test_ultrasound_with_burned_in_date_is_flagged(corpus: dict[str, Path]) -> None:
    """A real ultrasound frame with the exam date burned in (pydicom's palette example)."""
    (ocr,) = build_analyzers(AnalyzerSelection(names=("ocr",)))
    result = analyze_file(corpus["OBXXXX1A.dcm"], AnalysisOptions(analyzers=(ocr,))).result
    kinds = {finding.kind for finding in result.findings}
    assert {"burned-in text", "burned-in PHI suspected"} <= kinds
    suspected = next(f for f in result.findings if f.kind == "burned-in PHI suspected")
    assert "date" in suspected.message
    texts = [line.text for line in result.phi.burned_in_text]
    assert any("2011" in text for text in texts)
    # The text is PHI: it stays out of every message.
    assert all("2011" not in finding.message for finding in result.findings)


def test_the_detector_s_table_normalisation_gives_rapidocr_s_exact_input_and_boxes() -> None:
    """The engine's 8-bit normalisation by table (speed) feeds the model exactly the floats
    RapidOCR's own ``DetPreProcess`` computes, so every detection is unchanged."""
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    from dicomlens.analysis.analyzers.ocr import _engine

    detector = _engine(512, 1).text_det
    frames = [np.stack([frame.pixels] * 3, axis=-1) for frame in burned_in_set(count=6)]
    rng = np.random.default_rng(7)
    frames.append(rng.integers(0, 256, (300, 700, 3), dtype=np.uint8))
    for frame in frames:
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        ours = detector.get_preprocess(max(rgb.shape[:2]))
        theirs = DetPreProcess(ours.limit_side_len, ours.limit_type, ours.mean, ours.std)
        assert type(ours) is not DetPreProcess
        np.testing.assert_array_equal(ours(rgb), theirs(rgb))
    # and the boxes of a frame with text are those of the original pre-processing
    rgb = np.ascontiguousarray(frames[0][:, :, ::-1])
    boxes, _ = detector(rgb)
    table = detector.get_preprocess
    try:
        detector.get_preprocess = lambda max_wh: DetPreProcess(
            detector.limit_side_len, detector.limit_type, detector.mean, detector.std
        )
        original, _ = detector(rgb)
    finally:
        detector.get_preprocess = table
    assert len(boxes) > 0
    np.testing.assert_array_equal(np.asarray(boxes), np.asarray(original))


def test_a_gray_frame_reaches_the_detector_as_its_rgb_copy_would() -> None:
    """A gray frame skips the three-channel copy and the BGR swap (speed) and still gives the
    model exactly the input, and the detector exactly the boxes, of its RGB copy: at the
    detector's size, one it resizes, one the reader shrinks first, and a thin strip it pads."""
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    from dicomlens.analysis.analyzers.ocr import _engine

    reader = BurnedInTextReader()
    detector = _engine(reader.config.det_limit_side_len, reader.config.threads).text_det
    rng = np.random.default_rng(11)
    named = burned_in_set(count=3)
    frames = [frame.pixels for frame in named]
    frames.append(np.asarray(Image.fromarray(named[0].pixels).resize((500, 300))))
    frames.append(np.asarray(Image.fromarray(named[1].pixels).resize((1400, 1100))))
    frames.append(rng.integers(0, 256, (40, 600), dtype=np.uint8))
    for gray in frames:
        ours = detector.get_preprocess(max(gray.shape[:2]))
        theirs = DetPreProcess(ours.limit_side_len, ours.limit_type, ours.mean, ours.std)
        bgr = np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
        np.testing.assert_array_equal(ours(gray), theirs(bgr))
        np.testing.assert_array_equal(reader.detect(gray), reader.detect(bgr))
        np.testing.assert_array_equal(reader.detect(gray[:, :, None]), reader.detect(bgr))
    assert len(reader.detect(frames[0])) > 0
