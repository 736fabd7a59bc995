"""Offline analyzers: ImageNet classifier, faces, burned-in text, bring-your-own ONNX models.

Importing this package loads no model and no optional dependency: onnxruntime, OpenCV and
RapidOCR are imported, and their sessions built, on an analyzer's first use in a process.
"""

from dicomlens.analysis.analyzers.classifier import OnnxClassifier, OnnxClassifierConfig
from dicomlens.analysis.analyzers.faces import FaceDetectorConfig, HaarFaceDetector
from dicomlens.analysis.analyzers.ocr import BurnedInTextReader, OcrConfig
from dicomlens.analysis.analyzers.registry import (
    BUILTIN_ANALYZERS,
    AnalyzerResults,
    AnalyzerSelection,
    OnnxModelSpec,
    build_analyzers,
    run_analyzers,
)

__all__ = [
    "BUILTIN_ANALYZERS",
    "AnalyzerResults",
    "AnalyzerSelection",
    "BurnedInTextReader",
    "FaceDetectorConfig",
    "HaarFaceDetector",
    "OcrConfig",
    "OnnxClassifier",
    "OnnxClassifierConfig",
    "OnnxModelSpec",
    "build_analyzers",
    "run_analyzers",
]
