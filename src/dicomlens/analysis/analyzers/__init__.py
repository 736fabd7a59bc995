"""Offline analyzers: ImageNet classifier, faces, burned-in text, bring-your-own ONNX models.

Importing this package loads no model and no optional dependency: onnxruntime, OpenCV and
RapidOCR are imported, and their sessions built, on an analyzer's first use in a process.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dicomlens.analysis.analyzers.classifier import OnnxClassifier, OnnxClassifierConfig
    from dicomlens.analysis.analyzers.faces import HaarFaceDetector
    from dicomlens.analysis.analyzers.ocr import BurnedInTextReader, OcrConfig
    from dicomlens.analysis.analyzers.registry import (
        AnalyzerResults,
        AnalyzerSelection,
        build_analyzers,
        run_analyzers,
    )
    from dicomlens.analysis.analyzers.spec import (
        BUILTIN_ANALYZERS,
        FaceDetectorConfig,
        OnnxModelSpec,
    )

# Names are resolved on first use (PEP 562), so that importing a light submodule such as
# ``spec`` does not import numpy, onnxruntime or OpenCV.
_LAZY = {
    "BUILTIN_ANALYZERS": "dicomlens.analysis.analyzers.spec",
    "AnalyzerResults": "dicomlens.analysis.analyzers.registry",
    "AnalyzerSelection": "dicomlens.analysis.analyzers.registry",
    "BurnedInTextReader": "dicomlens.analysis.analyzers.ocr",
    "FaceDetectorConfig": "dicomlens.analysis.analyzers.spec",
    "HaarFaceDetector": "dicomlens.analysis.analyzers.faces",
    "OcrConfig": "dicomlens.analysis.analyzers.ocr",
    "OnnxClassifier": "dicomlens.analysis.analyzers.classifier",
    "OnnxClassifierConfig": "dicomlens.analysis.analyzers.classifier",
    "OnnxModelSpec": "dicomlens.analysis.analyzers.spec",
    "build_analyzers": "dicomlens.analysis.analyzers.registry",
    "run_analyzers": "dicomlens.analysis.analyzers.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
