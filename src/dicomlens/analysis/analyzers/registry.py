"""Which analyzers run, chosen by configuration, and running them without failing the job."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dicomlens.analysis.analyzers.classifier import (
    OnnxClassifier,
    imagenet_classifier_config,
)
from dicomlens.analysis.analyzers.faces import HaarFaceDetector
from dicomlens.analysis.analyzers.ocr import BurnedInTextReader, OcrConfig
from dicomlens.analysis.analyzers.spec import (
    ANALYZER_THREADS,
    BUILTIN_ANALYZERS,
    CLASSIFIER_MIN_CONFIDENCE,
    OCR_MIN_CONFIDENCE,
    FaceDetectorConfig,
    OnnxModelSpec,
)
from dicomlens.domain.results import Finding, Label, TextLine
from dicomlens.ports import Analyzer, AnalyzerInput

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class AnalyzerSelection:
    """The analyzers of a deployment, by name, with their options.

    ``names`` may hold the built-in ``classifier``, ``faces``, ``ocr`` and the name of any
    model in ``models`` (bring-your-own ONNX classifiers). ``threads``: onnxruntime threads
    per session (0 = one per core; 1 suits one worker process per core).
    """

    names: tuple[str, ...] = ()
    threads: int = ANALYZER_THREADS
    classifier_model: Path | None = None
    classifier_labels: Path | None = None
    classifier_min_confidence: float = CLASSIFIER_MIN_CONFIDENCE
    face: FaceDetectorConfig = field(default_factory=FaceDetectorConfig)
    ocr_min_confidence: float = OCR_MIN_CONFIDENCE
    models: tuple[OnnxModelSpec, ...] = ()


def build_analyzers(selection: AnalyzerSelection) -> tuple[Analyzer, ...]:
    """The configured analyzers, in the configured order. Loads no model (that is lazy).

    Raises ``ValueError`` for an unknown name, so a wrong configuration fails at start-up.
    """
    custom = {spec.name: spec for spec in selection.models}
    clash = set(custom) & set(BUILTIN_ANALYZERS)
    if clash:
        raise ValueError(f"model names clash with built-in analyzers: {sorted(clash)}")
    analyzers: list[Analyzer] = []
    for name in dict.fromkeys(selection.names):
        if name == "classifier":
            config = imagenet_classifier_config(
                model_path=selection.classifier_model,
                labels_path=selection.classifier_labels,
                min_confidence=selection.classifier_min_confidence,
                threads=selection.threads,
            )
            analyzers.append(OnnxClassifier(config=config))
        elif name == "faces":
            face = dataclasses.replace(selection.face, threads=selection.threads)
            analyzers.append(HaarFaceDetector(config=face))
        elif name == "ocr":
            ocr = OcrConfig(min_confidence=selection.ocr_min_confidence, threads=selection.threads)
            analyzers.append(BurnedInTextReader(config=ocr))
        elif name in custom:
            analyzers.append(
                OnnxClassifier(config=custom[name].to_config(threads=selection.threads))
            )
        else:
            known = [*BUILTIN_ANALYZERS, *custom]
            raise ValueError(f"unknown analyzer {name!r} (known: {', '.join(known)})")
    return tuple(analyzers)


@dataclass(frozen=True, kw_only=True)
class AnalyzerResults:
    """Everything the analyzers of one frame produced, merged in analyzer order."""

    labels: tuple[Label, ...] = ()
    findings: tuple[Finding, ...] = ()
    burned_in_text: tuple[TextLine, ...] = ()


def run_analyzers(analyzers: Sequence[Analyzer], frame: AnalyzerInput) -> AnalyzerResults:
    """Run each analyzer on ``frame``. One that raises yields an ``analyzer-failed`` finding
    naming it and why; the others' results are kept.
    """
    labels: list[Label] = []
    findings: list[Finding] = []
    text: list[TextLine] = []
    for analyzer in analyzers:
        try:
            output = analyzer.analyze(frame)
        # An analyzer is third-party code over untrusted pixels: whatever it raises, the job
        # must complete with the other results.
        except Exception as exc:
            logger.warning("analyzer %s failed: %s", analyzer.name, type(exc).__name__)
            findings.append(
                Finding(
                    kind="analyzer-failed",
                    message=f"analyzer {analyzer.name!r} failed: {type(exc).__name__}: {exc}",
                    source=analyzer.name,
                )
            )
            continue
        labels.extend(output.labels)
        findings.extend(output.findings)
        text.extend(output.burned_in_text)
    return AnalyzerResults(
        labels=tuple(labels), findings=tuple(findings), burned_in_text=tuple(text)
    )
