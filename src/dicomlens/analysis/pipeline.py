"""Analyse one file: the pure use case behind the CLI, the processor and the local worker.

``analyze_file`` never writes anywhere: it returns the result value and the encoded images;
callers decide where they go.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from dicomlens.analysis import phase
from dicomlens.analysis.analyzers.image_scope import excluded_by_header
from dicomlens.analysis.analyzers.registry import run_analyzers
from dicomlens.analysis.analyzers.spec import ANALYZER_TIMEOUT_S, FrameRequirement, ImageScope
from dicomlens.domain.results import AnalysisResult, Finding, SkippedAnalyzer
from dicomlens.imaging.decode import DecodedImage, read_image
from dicomlens.imaging.dicom_reader import LocatedDicom
from dicomlens.imaging.limits import PNG_COMPRESS_LEVEL, ImagingLimits
from dicomlens.imaging.metadata import check_summary
from dicomlens.imaging.output import (
    PREVIEW_MAX,
    THUMBNAIL_MAX,
    THUMBNAIL_REDUCING_GAP,
    display_size,
    to_png,
)
from dicomlens.imaging.render import CT_PRESETS, Rendered, WindowChoice, render
from dicomlens.imaging.tag_labels import tag_labels
from dicomlens.ports import Analyzer, AnalyzerInput


@dataclass(frozen=True, kw_only=True)
class AnalysisOptions:
    """What to produce besides the preview and the thumbnail.

    ``analyzers`` run on the rendered frame, in order, after the tag labels (none by default,
    so the core stays light; see :mod:`dicomlens.analysis.analyzers`), each within
    ``analyzer_timeout_s`` (one that runs out yields a finding; the job completes).
    """

    limits: ImagingLimits = field(default_factory=ImagingLimits)
    window_presets: bool = False
    png_compress_level: int = PNG_COMPRESS_LEVEL
    analyzers: tuple[Analyzer, ...] = ()
    analyzer_timeout_s: float = ANALYZER_TIMEOUT_S


@dataclass(frozen=True, kw_only=True)
class Analysis:
    """The result value and the derived images, keyed by file name (``preview.png`` ...).

    ``first_frame``: for a DICOM image whose rendered frame is its first frame at full
    resolution in its own window, that 8-bit picture (what DICOMweb's default ``/rendered``
    shows), so a caller that keeps that rendering need not decode the file again; else None.
    ``located``: for a DICOM image, its data set parsed up to the pixel data and where that
    lies (what DICOMweb's frame layout is computed from), else None.
    """

    result: AnalysisResult
    images: dict[str, bytes]
    first_frame: np.ndarray | None = None
    located: LocatedDicom | None = None


def analyze_file(path: Path, options: AnalysisOptions | None = None) -> Analysis:
    """Analyse the file at ``path``.

    Raises :class:`~dicomlens.domain.errors.DicomlensError` when the file cannot be read;
    a file without pixel data (SR, RT plan, waveform) is not an error: its result has
    ``has_image=False`` and no images.
    """
    options = options or AnalysisOptions()
    phase.enter(phase.Phase.DECODING)
    analyzers = options.analyzers
    image = read_image(
        path, limits=options.limits, max_side=lambda header: decode_side(analyzers, header)
    )
    checked = check_summary(image)
    summary, phi = checked.summary, checked.phi
    labels = tag_labels(summary)
    if not image.has_image:
        return Analysis(
            result=AnalysisResult(
                kind=image.kind,
                has_image=False,
                summary=summary,
                phi=phi,
                labels=labels,
                findings=(
                    *checked.findings,
                    Finding(kind="no-image", message="the file holds no pixel data"),
                ),
            ),
            images={},
        )
    rendered = render(image)
    aspect = _pixel_aspect(image.dataset, summary.pixel_spacing)
    images, preview_size, presets = _pictures(image, rendered, aspect, options)
    findings = (*_findings(image), *checked.findings, *rendered.findings)
    skipped: tuple[SkippedAnalyzer, ...] = ()
    if options.analyzers:
        frame = AnalyzerInput(pixels=rendered.pixels, kind=image.kind, summary=summary, phi=phi)
        phase.enter(phase.Phase.ANALYZING)
        found = run_analyzers(options.analyzers, frame, budget_s=options.analyzer_timeout_s)
        labels = (*labels, *found.labels)
        findings = (*findings, *found.findings)
        skipped = found.skipped
        if found.burned_in_text:
            phi = phi.model_copy(update={"burned_in_text": found.burned_in_text})
    result = AnalysisResult(
        kind=image.kind,
        has_image=True,
        summary=summary,
        phi=phi,
        labels=labels,
        findings=findings,
        representative_frame=image.frame_index,
        window=rendered.window,
        preview_size=preview_size,
        window_presets=presets,
        skipped_analyzers=skipped,
    )
    first = image.kind == "dicom" and image.frame_index == 0 and image.reduction == 1
    return Analysis(
        result=result,
        images=images,
        first_frame=rendered.pixels if first else None,
        located=image.located,
    )


def decode_side(analyzers: tuple[Analyzer, ...], header: Dataset | None = None) -> int | None:
    """The long side a frame is decoded at (at least): the preview's, or more when an
    analyzer looks at more; None (full resolution) when one may look at every pixel.

    An analyzer that declares no ``frame_requirement.max_side`` (a cloud service, a
    third-party model) gets the full frame. With ``header``, the DICOM data set being read,
    an analyzer certain to be skipped for it (:func:`excluded_by_header`: a photographs-only
    classifier on a mammogram) does not count.
    """
    sides = [PREVIEW_MAX]
    for analyzer in analyzers:
        scope: ImageScope | None = getattr(analyzer, "image_scope", None)
        if header is not None and scope is not None and excluded_by_header(scope, header):
            continue
        requirement: FrameRequirement | None = getattr(analyzer, "frame_requirement", None)
        if requirement is None or requirement.max_side is None:
            return None
        sides.append(requirement.max_side)
    return max(sides)


def _pictures(
    image: DecodedImage, rendered: Rendered, aspect: tuple[float, float], options: AnalysisOptions
) -> tuple[dict[str, bytes], tuple[int, int], tuple[str, ...]]:
    """The PNGs of one rendered frame: preview, thumbnail and, on request, the CT window
    presets; with the preview's size and the presets rendered."""
    rows, columns = image.frame_size
    preview_size = display_size(rows, columns, aspect, PREVIEW_MAX)
    level = options.png_compress_level
    images = {
        "preview.png": to_png(rendered.pixels, size=preview_size, compress_level=level),
        "thumbnail.png": to_png(
            rendered.pixels,
            size=display_size(rows, columns, aspect, THUMBNAIL_MAX),
            compress_level=level,
            reducing_gap=THUMBNAIL_REDUCING_GAP,
        ),
    }
    presets: tuple[str, ...] = ()
    if options.window_presets and _is_ct_grayscale(image):
        # On request only: four more PNGs cost more than the rest of the analysis.
        presets = tuple(CT_PRESETS)
        for name in presets:
            picture = render(image, window=WindowChoice.of_preset(name)).pixels
            images[f"window-{name}.png"] = to_png(picture, size=preview_size, compress_level=level)
    return images, preview_size, presets


def _pixel_aspect(ds: Dataset | None, spacing: tuple[float, float] | None) -> tuple[float, float]:
    """(vertical, horizontal) pixel size: Pixel Aspect Ratio, else the summary's spacing
    (Pixel Spacing, functional groups or Imager Pixel Spacing), else square."""
    ratio = ds.get("PixelAspectRatio") if ds is not None else None
    try:
        if ratio is not None and len(ratio) == 2:
            vertical, horizontal = float(ratio[0]), float(ratio[1])
            if vertical > 0 and horizontal > 0:
                return (vertical, horizontal)
    except (TypeError, ValueError):
        pass
    if spacing is not None and all(math.isfinite(v) and v > 0 for v in spacing):
        return spacing
    return (1.0, 1.0)


def _is_ct_grayscale(image: DecodedImage) -> bool:
    ds = image.dataset
    return (
        ds is not None
        and str(ds.get("Modality", "")).upper() == "CT"
        and image.pixels is not None
        and image.pixels.ndim == 2
    )


def _findings(image: DecodedImage) -> tuple[Finding, ...]:
    findings: list[Finding] = list(image.findings)
    ds = image.dataset
    if image.frame_count > 1:
        findings.append(
            Finding(
                kind="multi-frame",
                message=(
                    f"{image.frame_count} frames; the preview shows frame "
                    f"{image.frame_index} (0-based)"
                ),
            )
        )
    if ds is not None and str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        findings.append(
            Finding(
                kind="burned-in-annotation-declared",
                message="the file declares burned-in annotation (may show patient data)",
                confidence=1.0,
                source="dicom-tags",
            )
        )
    return tuple(findings)
