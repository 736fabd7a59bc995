"""Analyzers declare what they apply to, and the runner runs each only there.

Given frames of different kinds (a grayscale CT slice, colour Doppler ultrasound, a colour
photograph, a grayscale PNG), when the analyzers run, then a face detector or an ImageNet
classifier is never run on a medical image, a bring-your-own model runs on the modalities
it names, and every skip is recorded with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from dicomlens.adapters.aws.rekognition import RekognitionFaces, RekognitionText
from dicomlens.analysis.analyzers import run_analyzers
from dicomlens.analysis.analyzers.classifier import imagenet_classifier_config
from dicomlens.analysis.analyzers.faces import HaarFaceDetector
from dicomlens.analysis.analyzers.image_scope import is_photograph
from dicomlens.analysis.analyzers.ocr import BurnedInTextReader
from dicomlens.analysis.analyzers.spec import ImageScope, OnnxModelSpec
from dicomlens.domain.results import ImageKind, ImageSummary, PhiFields
from dicomlens.ports import AnalyzerInput, AnalyzerOutput


def _frame(kind: ImageKind, *, modality: str | None, colour: bool) -> AnalyzerInput:
    rng = np.random.default_rng(7)
    if colour:
        pixels = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    else:
        pixels = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    return AnalyzerInput(
        pixels=pixels, kind=kind, summary=ImageSummary(modality=modality), phi=PhiFields()
    )


CT = _frame("dicom", modality="CT", colour=False)
DOPPLER = _frame("dicom", modality="US", colour=True)
COLOUR_SC = _frame("dicom", modality="OT", colour=True)
GRAY_SC = _frame("dicom", modality="OT", colour=False)
PHOTO = _frame("jpeg", modality=None, colour=True)
GRAY_PNG = _frame("png", modality=None, colour=False)


@dataclass
class _Recorder:
    """An analyzer that records the frames it was run on."""

    name: str
    image_scope: ImageScope
    seen: list[AnalyzerInput] = field(default_factory=list)

    def analyze(self, frame: AnalyzerInput) -> AnalyzerOutput:
        self.seen.append(frame)
        return AnalyzerOutput()


@pytest.mark.parametrize(
    ("frame", "photograph"),
    [
        (CT, False),
        (DOPPLER, False),
        (GRAY_SC, False),
        (COLOUR_SC, True),
        (PHOTO, True),
        (GRAY_PNG, True),
    ],
    ids=["ct", "doppler", "gray-sc", "colour-sc", "photo", "gray-png"],
)
def test_photographs_are_told_from_medical_images(frame: AnalyzerInput, photograph: bool) -> None:
    assert is_photograph(frame) is photograph


def test_the_built_in_photograph_analyzers_declare_it() -> None:
    # Faces (offline and Rekognition) and the ImageNet classifier apply to photographs; OCR
    # and Rekognition text to any picture (burned-in text is on medical images)
    assert HaarFaceDetector().image_scope.images == "photographs"
    assert RekognitionFaces().image_scope.images == "photographs"
    assert imagenet_classifier_config().scope.images == "photographs"
    assert getattr(BurnedInTextReader(), "image_scope", ImageScope()).images == "any"
    assert getattr(RekognitionText(), "image_scope", ImageScope()).images == "any"


def test_a_photograph_analyzer_is_not_run_on_a_ct_slice_and_the_skip_is_recorded() -> None:
    faces = _Recorder("faces", ImageScope(images="photographs"))
    anything = _Recorder("anything", ImageScope())
    found = run_analyzers([faces, anything], CT)
    assert faces.seen == []
    assert anything.seen == [CT]
    assert [(s.name, s.reason) for s in found.skipped] == [
        ("faces", "it applies to photographs; this is a grayscale medical image")
    ]
    # A routine skip is not a finding: it is listed, not reported as a problem
    assert found.findings == ()


def test_a_photograph_analyzer_runs_on_photographs() -> None:
    faces = _Recorder("faces", ImageScope(images="photographs"))
    for frame in (PHOTO, GRAY_PNG, COLOUR_SC):
        assert run_analyzers([faces], frame).skipped == ()
    assert faces.seen == [PHOTO, GRAY_PNG, COLOUR_SC]


def test_a_modality_scoped_analyzer_runs_only_on_its_modalities() -> None:
    chest = _Recorder("chest", ImageScope(images="medical", modalities=frozenset({"CR", "DX"})))
    cr = _frame("dicom", modality="cr", colour=False)
    assert run_analyzers([chest], cr).skipped == ()
    reasons = [run_analyzers([chest], frame).skipped[0].reason for frame in (CT, GRAY_PNG, PHOTO)]
    assert reasons == [
        "it applies to modalities CR, DX; the file's is CT",
        "it applies to medical images; this is a photograph",
        "it applies to medical images; this is a photograph",
    ]
    assert chest.seen == [cr]


def test_a_bring_your_own_model_declares_its_scope_in_its_spec() -> None:
    spec = OnnxModelSpec.model_validate(
        {
            "name": "chest",
            "path": "model.onnx",
            "labels": "labels.txt",
            "images": "medical",
            "modalities": ["cr", " DX "],
        }
    )
    scope = spec.to_config(threads=1).scope
    assert scope == ImageScope(images="medical", modalities=frozenset({"CR", "DX"}))
    # Without a scope, a model runs on every picture (as before)
    plain = OnnxModelSpec.model_validate({"name": "x", "path": "m.onnx", "labels": "l.txt"})
    assert plain.to_config(threads=1).scope == ImageScope()
    with pytest.raises(ValueError, match="images"):
        OnnxModelSpec.model_validate(
            {"name": "x", "path": "m.onnx", "labels": "l.txt", "images": "xrays"}
        )
