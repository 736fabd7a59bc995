"""The findings burned-in text gives, whichever engine read it (offline OCR, Rekognition).

One function so that both worlds report the same kinds, messages and confidences: a
``burned-in text`` finding with where the text is, a ``burned-in PHI suspected`` finding
when the lines look like the patient's data (:func:`~.phi_text.match_phi`), and a
``burned-in-annotation-mismatch`` finding when the file declares BurnedInAnnotation NO.
The text itself never goes into a finding's message (it may be PHI).
"""

from __future__ import annotations

from collections.abc import Sequence

from dicomlens.analysis.analyzers.phi_text import match_phi
from dicomlens.domain.results import Finding, TextLine
from dicomlens.ports import AnalyzerInput, AnalyzerOutput


def text_findings(
    lines: Sequence[TextLine], frame: AnalyzerInput, *, source: str
) -> AnalyzerOutput:
    """The analyzer output for ``lines`` read from ``frame`` by ``source``; nothing when no
    line was read. PHI confidence is the match's, lowered for lines read with little
    confidence (never below half of it)."""
    if not lines:
        return AnalyzerOutput()
    lines = tuple(lines)
    findings = [
        Finding(
            kind="burned-in text",
            message=f"{len(lines)} {'line' if len(lines) == 1 else 'lines'} of text "
            "burned into the image",
            confidence=max(line.confidence for line in lines),
            boxes=tuple(line.box for line in lines),
            source=source,
        )
    ]
    matches = match_phi([line.text for line in lines], frame.phi)
    if matches:
        reasons = list(dict.fromkeys(match.reason for match in matches))
        indexes = sorted({match.line for match in matches})
        best = max(match.confidence for match in matches)
        reading = min(lines[index].confidence for index in indexes)
        findings.append(
            Finding(
                kind="burned-in PHI suspected",
                message="burned-in text shows " + ", ".join(reasons),
                confidence=round(best * max(reading, 0.5), 4),
                boxes=tuple(lines[index].box for index in indexes),
                source=source,
            )
        )
    declared = (frame.summary.burned_in_annotation or "").strip().upper()
    if declared == "NO":
        findings.append(
            Finding(
                kind="burned-in-annotation-mismatch",
                message="the file declares no burned-in annotation (BurnedInAnnotation NO), "
                "but text was found in the pixels",
                confidence=findings[0].confidence,
                boxes=findings[0].boxes,
                source=source,
            )
        )
    return AnalyzerOutput(findings=tuple(findings), burned_in_text=lines)
