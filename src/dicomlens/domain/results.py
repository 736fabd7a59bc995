"""The analysis result: what the pipeline returns and what jobs store.

Values crossing a boundary are frozen pydantic models so that they round-trip through
JSON (SQLite, DynamoDB, the API) unchanged. Confidences are fractions in ``[0, 1]``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

ImageKind = Literal["dicom", "png", "jpeg"]


class _Frozen(BaseModel):
    """JSON uses camelCase (``hasImage``); Python uses snake_case; both are accepted."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    def to_json_dict(self) -> dict[str, object]:
        """The camelCase JSON-compatible dict stored on jobs and sent by the API."""
        return self.model_dump(mode="json", by_alias=True)


class Box(_Frozen):
    """A box in preview-independent, relative coordinates (fractions of width/height)."""

    left: float
    top: float
    width: float
    height: float


class Label(_Frozen):
    """A label with where it came from (``dicom-tags``, ``classifier``, ``rekognition`` ...).

    ``boxes`` locate the labelled thing when the source knows where it is (a face ...).
    """

    name: str
    confidence: float = Field(ge=0.0, le=1.0)
    source: str
    category: str | None = None
    boxes: tuple[Box, ...] = ()


class Finding(_Frozen):
    """Something worth a user's attention (burned-in text, a failed analyzer ...)."""

    kind: str
    message: str
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    boxes: tuple[Box, ...] = ()
    source: str | None = None


# Stable finding kinds of the rendering, which clients may key on.
LUT_IGNORED = "lut-ignored"
"""A Modality or VOI LUT Sequence was unusable; the preview used the next step instead."""
LUT_REPAIRED = "lut-repaired"
"""A LUT's descriptor disagreed with its data (entry count, bits per entry); the data was
used as it is, as DCMTK uses it."""
LUT_SINGLE_ENTRY = "lut-single-entry"
"""A LUT holds a single entry, so it maps every pixel to one value: it was applied as DCMTK
applies it, and the preview shows one grey level."""
VALUE_IGNORED = "value-ignored"
"""A display or pixel-description attribute held a value that cannot be used (a window of
width zero, a rescale slope that is not a number, a High Bit that contradicts Bits Stored);
it was ignored and the preview used the next step instead."""
VALUE_INVALID_FOR_VR = "value-invalid-for-vr"
"""A summary value broke its VR (length, characters, number of values) or was no plausible
measurement; it was left out of the summary. The message names the tag, never the value."""

# The most characters each text field of the summary may hold: its VR's maximum (PS3.5
# Table 6.2-1), or for a UID's name the longest name a reader could show.
_SUMMARY_TEXT_LIMITS = {
    "modality": 16,
    "sop_class_uid": 64,
    "sop_class_name": 128,
    "body_part": 16,
    "study_description": 64,
    "series_description": 64,
    "laterality": 16,
    "view_position": 16,
    "photometric_interpretation": 16,
    "transfer_syntax_uid": 64,
    "transfer_syntax_name": 128,
    "manufacturer": 64,
    "model": 64,
    "burned_in_annotation": 16,
    "study_instance_uid": 64,
    "series_instance_uid": 64,
    "sop_instance_uid": 64,
}


class ImageSummary(_Frozen):
    """Non-PHI description of the file. Every value equals the file's (or is None).

    The Study, Series and SOP Instance UIDs and the Series and Instance Numbers place the
    file in its study (the page groups uploads by them; a viewer opens the study by its
    UID). They are shown by the API: UIDs identify images, not patients (no names, IDs or
    birth dates), though a UID may be linked to a patient by whoever holds the study.
    """

    modality: str | None = None
    sop_class_uid: str | None = None
    sop_class_name: str | None = None
    body_part: str | None = None
    study_description: str | None = None
    series_description: str | None = None
    laterality: str | None = None
    view_position: str | None = None
    rows: int | None = None
    columns: int | None = None
    frames: int = 1
    samples_per_pixel: int | None = None
    bits_allocated: int | None = None
    bits_stored: int | None = None
    pixel_representation: int | None = None
    photometric_interpretation: str | None = None
    transfer_syntax_uid: str | None = None
    transfer_syntax_name: str | None = None
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    manufacturer: str | None = None
    model: str | None = None
    burned_in_annotation: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    series_number: int | None = None
    instance_number: int | None = None

    @field_validator(*_SUMMARY_TEXT_LIMITS, mode="after")
    @classmethod
    def _within_vr_length(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The last guard: a value longer than its VR allows is never kept (metadata has
        already left it out, with a finding)."""
        limit = _SUMMARY_TEXT_LIMITS[str(info.field_name)]
        return value if value is None or len(value) <= limit else None


class TextLine(_Frozen):
    """One line of text read from the pixels (OCR), with where it is. PHI: see PhiFields."""

    text: str
    confidence: float = Field(ge=0.0, le=1.0)
    box: Box


class PhiFields(_Frozen):
    """Patient-identifying values. Stored with the job, hidden by the API unless enabled.

    ``burned_in_text`` holds the text that OCR read from the pixels: burned-in text often
    names the patient, so it is PHI like the tags, and is never logged.
    """

    patient_name: str | None = None
    patient_id: str | None = None
    patient_birth_date: str | None = None
    patient_sex: str | None = None
    accession_number: str | None = None
    institution_name: str | None = None
    referring_physician_name: str | None = None
    study_date: str | None = None
    burned_in_text: tuple[TextLine, ...] = ()


class WindowUsed(_Frozen):
    """The VOI transform used for the preview."""

    source: Literal["file-window", "file-voi-lut", "automatic", "min-max", "preset", "none"]
    center: float | None = None
    width: float | None = None
    function: str | None = None
    preset: str | None = None


class SkippedAnalyzer(_Frozen):
    """An analyzer that was not run on the file, and why (out of its scope: a face detector
    on a CT slice; or a frame too small for it)."""

    name: str
    reason: str


class AnalysisResult(_Frozen):
    """Everything the pipeline learned about one file. ``skipped_analyzers``: the configured
    analyzers that did not run on it, each with the reason."""

    kind: ImageKind
    has_image: bool
    summary: ImageSummary
    phi: PhiFields = PhiFields()
    labels: tuple[Label, ...] = ()
    findings: tuple[Finding, ...] = ()
    representative_frame: int | None = None
    window: WindowUsed | None = None
    preview_size: tuple[int, int] | None = None
    window_presets: tuple[str, ...] = ()
    skipped_analyzers: tuple[SkippedAnalyzer, ...] = ()


# Stable finding kinds of the decoding, which clients may key on.
TRANSFER_SYNTAX_CONFLICT = "transfer-syntax-conflict"
"""Group 0002 elements repeated in the dataset name another transfer syntax than the file
meta; the file meta's was used."""
JPEG_SCAN_HEADER_REPAIRED = "jpeg-scan-header-repaired"
"""A JPEG scan header held values its process fixes (spectral selection, approximation);
they were set to the fixed values to decode the frame."""
SEQUENCE_DELIMITER_MISSING = "sequence-delimiter-missing"
"""Encapsulated pixel data ended without its sequence delimiter; every fragment was whole."""
UN_SEQUENCE_SKIPPED = "un-sequence-skipped"
"""An undefined-length element of VR UN in a big endian dataset was read as implicit VR
little endian (PS3.5 6.2.2) to find its end; its content was not read."""
ACR_NEMA_ASSUMED = "acr-nema-assumed"
"""Attributes an ACR-NEMA file lacks were assumed (MONOCHROME2), or its packed 12-bit
pixels unpacked."""
