"""Which analyzers run, chosen by configuration, and running them without failing the job."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dicomlens.analysis.analyzers.budget import time_budget
from dicomlens.analysis.analyzers.image_scope import is_photograph
from dicomlens.analysis.analyzers.spec import (
    ANALYZER_THREADS,
    BUILTIN_ANALYZERS,
    CLASSIFIER_MIN_CONFIDENCE,
    OCR_MIN_CONFIDENCE,
    FaceDetectorConfig,
    FrameRequirement,
    ImageScope,
    OnnxModelSpec,
)
from dicomlens.domain.errors import TransientError
from dicomlens.domain.results import Finding, Label, SkippedAnalyzer, TextLine
from dicomlens.ports import Analyzer, AnalyzerInput

logger = logging.getLogger(__name__)

# Stable finding kinds of the analyzers' runner, which clients may key on.
ANALYZER_FAILED = "analyzer-failed"
ANALYZER_TIMEOUT = "analyzer-timeout"
"""The analyzer ran out of its time budget and was stopped; the job completed without it."""
ANALYZER_SKIPPED = "analyzer-skipped"
"""The frame is too small or too thin for the analyzer (see ``FrameRequirement``)."""


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
    # Each analyzer's module is imported only when it is selected (none is by default in AWS
    # mode, so the processor's cold start does not pay for them).
    custom = {spec.name: spec for spec in selection.models}
    clash = set(custom) & set(BUILTIN_ANALYZERS)
    if clash:
        raise ValueError(f"model names clash with built-in analyzers: {sorted(clash)}")
    analyzers: list[Analyzer] = []
    for name in dict.fromkeys(selection.names):
        if name == "classifier":
            from dicomlens.analysis.analyzers.classifier import (  # noqa: PLC0415
                OnnxClassifier,
                imagenet_classifier_config,
            )

            config = imagenet_classifier_config(
                model_path=selection.classifier_model,
                labels_path=selection.classifier_labels,
                min_confidence=selection.classifier_min_confidence,
                threads=selection.threads,
            )
            analyzers.append(OnnxClassifier(config=config))
        elif name == "faces":
            from dicomlens.analysis.analyzers.faces import HaarFaceDetector  # noqa: PLC0415

            face = dataclasses.replace(selection.face, threads=selection.threads)
            analyzers.append(HaarFaceDetector(config=face))
        elif name == "ocr":
            from dicomlens.analysis.analyzers.ocr import (  # noqa: PLC0415
                BurnedInTextReader,
                OcrConfig,
            )

            ocr = OcrConfig(min_confidence=selection.ocr_min_confidence, threads=selection.threads)
            analyzers.append(BurnedInTextReader(config=ocr))
        elif name in custom:
            from dicomlens.analysis.analyzers.classifier import OnnxClassifier  # noqa: PLC0415

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
    skipped: tuple[SkippedAnalyzer, ...] = ()


def run_analyzers(
    analyzers: Sequence[Analyzer], frame: AnalyzerInput, *, budget_s: float | None = None
) -> AnalyzerResults:
    """Run each analyzer on ``frame``, each within ``budget_s`` seconds (None: no budget).

    One whose ``image_scope`` excludes the frame (a face detector on a grayscale medical
    image) is not run: it is listed in ``skipped`` with the reason. One whose
    ``frame_requirement`` the frame does not meet is skipped too, and also gets an
    ``analyzer-skipped`` finding saying why; one that runs out of its budget is stopped and
    yields an ``analyzer-timeout`` finding; one that raises yields an ``analyzer-failed``
    finding naming it and why. The others' results are kept in every case. A
    :class:`~dicomlens.domain.errors.TransientError` (a throttled service) propagates: the
    attempt is retried, not completed with a finding.
    """
    labels: list[Label] = []
    findings: list[Finding] = []
    text: list[TextLine] = []
    skipped: list[SkippedAnalyzer] = []
    rows, columns = frame.pixels.shape[:2]
    photograph: bool | None = None  # decided once, when an analyzer's scope asks
    for analyzer in analyzers:
        scope: ImageScope | None = getattr(analyzer, "image_scope", None)
        if scope is not None and scope.images != "any" and photograph is None:
            photograph = is_photograph(frame)
        out_of_scope = (
            scope.unmet_by(photograph=bool(photograph), modality=frame.summary.modality)
            if scope is not None
            else None
        )
        if out_of_scope is not None:
            skipped.append(SkippedAnalyzer(name=analyzer.name, reason=out_of_scope))
            continue
        requirement: FrameRequirement | None = getattr(analyzer, "frame_requirement", None)
        unmet = requirement.unmet_by(rows, columns) if requirement is not None else None
        if unmet is not None:
            skipped.append(SkippedAnalyzer(name=analyzer.name, reason=unmet))
            findings.append(
                Finding(
                    kind=ANALYZER_SKIPPED,
                    message=f"analyzer {analyzer.name!r} skipped: {unmet}",
                    source=analyzer.name,
                )
            )
            continue
        with time_budget(budget_s) as budget:
            try:
                output = analyzer.analyze(frame)
            # A service that throttled or was unavailable says nothing about the file: the
            # attempt is retried later rather than completed without that analyzer.
            except TransientError:
                raise
            # An analyzer is third-party code over untrusted pixels: whatever else it raises,
            # the job must complete with the other results.
            except Exception as exc:
                findings.append(
                    _failure(analyzer.name, exc, timed_out=bool(budget and budget.spent))
                )
                continue
        labels.extend(output.labels)
        findings.extend(output.findings)
        text.extend(output.burned_in_text)
    return AnalyzerResults(
        labels=tuple(labels),
        findings=tuple(findings),
        burned_in_text=tuple(text),
        skipped=tuple(skipped),
    )


def _failure(name: str, exc: Exception, *, timed_out: bool) -> Finding:
    """The finding of an analyzer that raised ``exc`` (after its budget ran out, or not)."""
    if timed_out:
        logger.warning("analyzer %s ran out of its time budget", name)
        return Finding(
            kind=ANALYZER_TIMEOUT,
            message=f"analyzer {name!r} ran out of its time budget and was stopped",
            source=name,
        )
    logger.warning("analyzer %s failed: %s", name, type(exc).__name__)
    return Finding(
        kind=ANALYZER_FAILED,
        message=f"analyzer {name!r} failed: {type(exc).__name__}: {exc}",
        source=name,
    )
