"""The offline analyzers with their real models: ImageNet classifier (the committed ONNX
export), OpenCV Haar faces, RapidOCR, on a packaged photograph, CT and MR from the corpus,
and a generated CT slice with a patient name burned into its pixels.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom.data
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.uid import CTImageStorage

from corpus.generate import attach_grey, new_dataset, to_bytes

pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")
pytest.importorskip("rapidocr_onnxruntime")
matplotlib = pytest.importorskip("matplotlib")

from dicomlens.analysis.analyzers import AnalyzerSelection, build_analyzers  # noqa: E402
from dicomlens.analysis.pipeline import AnalysisOptions, analyze_file  # noqa: E402
from dicomlens.domain.results import AnalysisResult, Box  # noqa: E402

MPL_DATA = Path(matplotlib.__file__).parent / "mpl-data"
# Grace Hopper's portrait, shipped with matplotlib as sample data: a photograph of a face.
PORTRAIT = MPL_DATA / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def everything() -> AnalysisOptions:
    """Every offline analyzer, as the local stack runs them."""
    return AnalysisOptions(
        analyzers=build_analyzers(AnalyzerSelection(names=("classifier", "faces", "ocr")))
    )


def _by_source(result: AnalysisResult, source: str) -> list[str]:
    return [label.name for label in result.labels if label.source == source]


def _centre_inside(inner: Box, outer: Box) -> bool:
    x = inner.left + inner.width / 2
    y = inner.top + inner.height / 2
    return (
        outer.left <= x <= outer.left + outer.width and outer.top <= y <= outer.top + outer.height
    )


@pytest.fixture(scope="module")
def portrait(
    tmp_path_factory: pytest.TempPathFactory, everything: AnalysisOptions
) -> AnalysisResult:
    path = tmp_path_factory.mktemp("portrait") / "portrait.jpg"
    path.write_bytes(PORTRAIT.read_bytes())
    return analyze_file(path, everything).result


def test_a_photographed_face_gives_face_and_person_labels_with_a_box(
    portrait: AnalysisResult,
) -> None:
    faces = {label.name: label for label in portrait.labels if label.source == "faces"}
    assert set(faces) == {"Face", "Person"}
    (box,) = faces["Face"].boxes
    # The face is in the upper middle of the portrait (about x 0.3-0.75, y 0.15-0.55).
    assert _centre_inside(box, Box(left=0.3, top=0.15, width=0.45, height=0.4))
    assert faces["Face"].confidence >= 0.5


def test_a_face_is_a_phi_finding(portrait: AnalysisResult) -> None:
    (finding,) = [finding for finding in portrait.findings if finding.kind == "face"]
    assert "PHI" in finding.message
    assert len(finding.boxes) == 1


def test_the_classifier_labels_a_photograph_with_imagenet_classes(
    portrait: AnalysisResult,
) -> None:
    labels = [label for label in portrait.labels if label.source == "classifier"]
    assert labels, "no classifier label above the minimum confidence"
    assert all(label.confidence >= 0.2 for label in labels)
    # EfficientNet-Lite0 sees a person in uniform / academic dress.
    assert {label.name for label in labels} & {
        "Academic Gown",
        "Military Uniform",
        "Mortarboard",
        "Graduation Cap",
        "Suit",
    }


def test_a_packaged_face_image_in_dicom_is_found() -> None:
    files = {path.name: path for path in _corpus()}
    if "OT-PAL-8-face.dcm" not in files:
        pytest.skip("pydicom-data is not installed")
    options = AnalysisOptions(analyzers=build_analyzers(AnalyzerSelection(names=("faces",))))
    result = analyze_file(files["OT-PAL-8-face.dcm"], options).result
    assert "face" in [finding.kind for finding in result.findings]


def _corpus() -> tuple[Path, ...]:
    from corpus.real import real_files

    return real_files()


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_ct_and_mr_keep_their_tag_labels_and_get_no_imagenet_nonsense(
    name: str, everything: AnalysisOptions
) -> None:
    result = analyze_file(Path(pydicom.data.get_testdata_file(name)), everything).result
    assert _by_source(result, "dicom-tags")
    assert _by_source(result, "classifier") == []  # suppressed on grayscale medical images
    assert [f for f in result.findings if f.kind == "analyzer-failed"] == []
    assert [f for f in result.findings if f.source in ("faces", "ocr")] == []


def _ct_with_burned_in_name(path: Path, *, declared: str) -> Path:
    """A 512x512 CT slice (HU, window 40/400) with the patient's name and birth date burned in."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:512, 0:512]
    body = ((yy - 256) / 200.0) ** 2 + ((xx - 256) / 230.0) ** 2 <= 1
    hu = np.where(body, 40 + rng.normal(0, 15, (512, 512)), -1000)
    text = Image.new("L", (512, 512), 0)
    draw = ImageDraw.Draw(text)
    font = ImageFont.truetype(str(MPL_DATA / "fonts" / "ttf" / "DejaVuSans.ttf"), 16)
    draw.text((10, 8), "MUELLER^HANS", fill=255, font=font)
    draw.text((10, 30), "DOB 12.07.1961", fill=255, font=font)
    draw.text((400, 488), "W 400 L 40", fill=255, font=font)
    hu = np.where(np.asarray(text) > 127, 1500, hu)
    ds = new_dataset(CTImageStorage, 9001, "CT")
    ds.PatientName = "Mueller^Hans"
    ds.PatientID = "GEN9001"
    ds.PatientBirthDate = "19610712"
    ds.BurnedInAnnotation = declared
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.WindowCenter, ds.WindowWidth = 40, 400
    attach_grey(ds, np.rint(hu + 1024).clip(0, 4095).astype(np.uint16), bits_stored=12)
    path.write_bytes(to_bytes(ds))
    return path


def test_a_burned_in_name_on_a_ct_slice_is_suspected_phi(
    tmp_path: Path, everything: AnalysisOptions
) -> None:
    path = _ct_with_burned_in_name(tmp_path / "burned.dcm", declared="NO")
    result = analyze_file(path, everything).result
    kinds = [finding.kind for finding in result.findings]
    assert "burned-in text" in kinds
    assert "burned-in-annotation-mismatch" in kinds
    (suspected,) = [f for f in result.findings if f.kind == "burned-in PHI suspected"]
    assert "the patient's name" in suspected.message
    assert "the patient's birth date" in suspected.message
    assert any(box.top < 0.1 and box.left < 0.2 for box in suspected.boxes)
    texts = " ".join(line.text for line in result.phi.burned_in_text).upper()
    assert "MUELLER" in texts
    # The text itself is PHI: it is stored under phi and appears in no message.
    assert "MUELLER" not in str(result.model_dump(exclude={"phi"})).upper()
    assert _by_source(result, "classifier") == []


def test_declared_burned_in_annotation_gives_no_mismatch(
    tmp_path: Path, everything: AnalysisOptions
) -> None:
    path = _ct_with_burned_in_name(tmp_path / "declared.dcm", declared="YES")
    kinds = [finding.kind for finding in analyze_file(path, everything).result.findings]
    assert "burned-in-annotation-declared" in kinds
    assert "burned-in PHI suspected" in kinds
    assert "burned-in-annotation-mismatch" not in kinds


def test_an_rgb_png_screenshot_with_text_is_read(
    tmp_path: Path, everything: AnalysisOptions
) -> None:
    picture = Image.new("RGB", (640, 360), (250, 250, 250))
    draw = ImageDraw.Draw(picture)
    font = ImageFont.truetype(str(MPL_DATA / "fonts" / "ttf" / "DejaVuSerif.ttf"), 22)
    draw.text((20, 300), "Patient: SILVA^JOAO", fill=(20, 20, 120), font=font)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    path = tmp_path / "screenshot.png"
    path.write_bytes(buffer.getvalue())
    result = analyze_file(path, everything).result
    (suspected,) = [f for f in result.findings if f.kind == "burned-in PHI suspected"]
    assert "name" in suspected.message
    assert result.phi.burned_in_text


@pytest.mark.parametrize("name", ["examples_rgb_color.dcm", "examples_palette.dcm"])
def test_colour_ultrasound_gets_no_imagenet_labels(name: str, everything: AnalysisOptions) -> None:
    result = analyze_file(Path(pydicom.data.get_testdata_file(name)), everything).result
    assert result.summary.modality == "US"
    assert _by_source(result, "classifier") == []
    assert "Ultrasound" in _by_source(result, "dicom-tags")
