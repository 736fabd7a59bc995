"""Metadata of a DICOM dataset: a non-PHI summary and, separately, the PHI fields.

Values are taken verbatim from the file (multi-valued ones as tuples), so that a summary
equals what ``dcmdump`` prints for the same attributes. A summary value that breaks its
VR (length, character repertoire, multiplicity: PS3.5 6.2) or cannot be a measurement is
left out, with a ``value-invalid-for-vr`` finding that names its tag, never its value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID

from dicomlens.domain.results import VALUE_INVALID_FOR_VR, Finding, ImageSummary, PhiFields
from dicomlens.imaging.decoded_image import DecodedImage
from dicomlens.imaging.vr_conformance import conforms

# Attributes of the summary with two values; every other one has one (PS3.3, PS3.6).
_TWO_VALUES = frozenset({"PixelSpacing", "ImagerPixelSpacing"})
# A pixel spacing (mm) outside this range is no measurement (1 nm to 1 km per pixel).
_SPACING_RANGE = (1e-6, 1e6)
_US_MAX = 0xFFFF
# The range of an Integer String (PS3.5 Table 6.2-1).
_IS_RANGE = (-(2**31), 2**31 - 1)


@dataclass(frozen=True, kw_only=True)
class CheckedSummary:
    """The summary, and one finding per value left out of it."""

    summary: ImageSummary
    phi: PhiFields = field(default_factory=PhiFields)
    findings: tuple[Finding, ...] = ()


@dataclass
class _SummaryReader:
    """Reads summary values, leaving out (with a finding) those that break their VR."""

    findings: list[Finding] = field(default_factory=list)

    def drop(self, tag: int, keyword: str, why: str) -> None:
        self.findings.append(
            Finding(
                kind=VALUE_INVALID_FOR_VR,
                message=(
                    f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {keyword} {why}; "
                    "it is left out of the metadata"
                ),
                source="dicom-tags",
            )
        )

    def values(self, ds: Dataset | None, keyword: str) -> list[str] | None:
        """The values of ``keyword`` as text, or None when absent, empty or non-conforming."""
        elem = ds.data_element(keyword) if ds is not None and keyword in ds else None
        if elem is None or elem.value is None:
            return None
        raw = elem.value
        items = list(raw) if isinstance(raw, list | tuple | MultiValue) else [raw]
        if isinstance(raw, bytes):
            texts = None  # not converted to text: an unknown or wrong VR
        else:
            texts = [_as_written(v) for v in items]
            if not any(text.strip(" \x00") for text in texts):
                return None
        vr = _dictionary_vr(int(elem.tag)) or str(elem.VR)
        if texts is None or not all(conforms(vr, text) for text in texts):
            self.drop(int(elem.tag), keyword, f"does not conform to its VR ({vr})")
            return None
        if len(texts) != (2 if keyword in _TWO_VALUES else 1):
            self.drop(int(elem.tag), keyword, "has the wrong number of values")
            return None
        return [str(v) for v in items]

    def text(self, ds: Dataset | None, keyword: str) -> str | None:
        values = self.values(ds, keyword)
        text = values[0].strip(" \x00") if values else ""
        return text or None

    def integer(
        self, ds: Dataset | None, keyword: str, *, low: int = 0, high: int = _US_MAX
    ) -> int | None:
        """An integer from ``low`` to ``high`` (by default US; an IS that counts something
        or numbers something gives its own range)."""
        values = self.values(ds, keyword)
        if not values:
            return None
        try:
            number = int(values[0])
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            self.drop(_tag(ds, keyword), keyword, "is out of range")
            return None
        return number

    def decimal(self, ds: Dataset | None, keyword: str) -> float | None:
        values = self.values(ds, keyword)
        return float(values[0]) if values else None

    def spacing(self, ds: Dataset | None, keyword: str) -> tuple[float, float] | None:
        values = self.values(ds, keyword)
        if not values:
            return None
        row, col = (float(v) for v in values)
        low, high = _SPACING_RANGE
        # Zero is what some writers put for "unknown": shown as written, never used as a size.
        if not all(v == 0 or low <= v <= high for v in (row, col)):
            self.drop(_tag(ds, keyword), keyword, "is not a plausible spacing")
            return None
        return (row, col)


def _as_written(value: object) -> str:
    """A value's text as the file wrote it (a number's original string, not its float)."""
    original = getattr(value, "original_string", None)
    return original if isinstance(original, str) and original else str(value)


def _dictionary_vr(tag: int) -> str | None:
    """The VR the standard gives ``tag``: what its value must obey, whatever the file says."""
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        return None
    return None if " or " in vr else vr


def _tag(ds: Dataset | None, keyword: str) -> int:
    elem = ds.data_element(keyword) if ds is not None else None
    return int(elem.tag) if elem is not None else 0


def _pixel_spacing(ds: Dataset, read: _SummaryReader) -> tuple[float, float] | None:
    """Pixel Spacing, else the shared functional groups' (enhanced objects), else Imager
    Pixel Spacing (projection radiography): the first that has a value decides."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    measures = shared[0].get("PixelMeasuresSequence") if shared else None
    sources = [ds, measures[0] if measures else None, ds]
    keywords = ("PixelSpacing", "PixelSpacing", "ImagerPixelSpacing")
    for source, keyword in zip(sources, keywords, strict=True):
        if source is not None and source.get(keyword) not in (None, ""):
            return read.spacing(source, keyword)
    return None


def _sop_instance_uid(ds: Dataset, meta: Dataset | None, read: _SummaryReader) -> str | None:
    """SOP Instance UID, else (when the dataset has none) the file meta's Media Storage SOP
    Instance UID; a dataset value that breaks its VR is left out, not replaced."""
    if "SOPInstanceUID" in ds:
        return read.text(ds, "SOPInstanceUID")
    return read.text(meta, "MediaStorageSOPInstanceUID")


def _number(ds: Dataset, keyword: str, read: _SummaryReader) -> int | None:
    """A Series or Instance Number (IS, PS3.3 C.7.3.1 and C.7.6.1): any 32-bit integer."""
    low, high = _IS_RANGE
    return read.integer(ds, keyword, low=low, high=high)


def _uid_name(uid: str | None) -> str | None:
    if not uid:
        return None
    name = str(UID(uid).name)
    return name if name != uid else None


def summarize(image: DecodedImage) -> ImageSummary:
    """The non-PHI summary of ``image`` (for PNG/JPEG: only the geometry)."""
    return check_summary(image).summary


def check_summary(image: DecodedImage) -> CheckedSummary:
    """The non-PHI summary and the PHI fields of ``image``, and a finding for each value
    left out of them.

    Every value conforms to its VR: a value that does not is left out (None), so that no
    summary field is longer than its VR allows or shows a misread element's bytes.
    """
    ds = image.dataset
    if ds is None:
        arr = image.pixels
        if arr is None:
            return CheckedSummary(summary=ImageSummary(frames=0))
        rows, columns = image.frame_size
        return CheckedSummary(
            summary=ImageSummary(
                rows=rows,
                columns=columns,
                frames=image.frame_count,
                samples_per_pixel=1 if arr.ndim == 2 else int(arr.shape[2]),
                bits_allocated=8,
                bits_stored=8,
                photometric_interpretation=image.photometric,
            )
        )
    read = _SummaryReader()
    meta = getattr(ds, "file_meta", None)
    tsyntax = read.text(meta, "TransferSyntaxUID")
    sop_class = read.text(ds, "SOPClassUID") or read.text(meta, "MediaStorageSOPClassUID")
    frames = image.frame_count
    if not image.has_image:
        frames = read.integer(ds, "NumberOfFrames", high=2**31 - 1) or 0
    summary = ImageSummary(
        modality=read.text(ds, "Modality"),
        sop_class_uid=sop_class,
        sop_class_name=_uid_name(sop_class),
        body_part=read.text(ds, "BodyPartExamined"),
        study_description=read.text(ds, "StudyDescription"),
        series_description=read.text(ds, "SeriesDescription"),
        laterality=read.text(ds, "Laterality") or read.text(ds, "ImageLaterality"),
        view_position=read.text(ds, "ViewPosition"),
        rows=read.integer(ds, "Rows"),
        columns=read.integer(ds, "Columns"),
        frames=frames,
        samples_per_pixel=read.integer(ds, "SamplesPerPixel"),
        bits_allocated=read.integer(ds, "BitsAllocated"),
        bits_stored=read.integer(ds, "BitsStored"),
        pixel_representation=read.integer(ds, "PixelRepresentation"),
        photometric_interpretation=read.text(ds, "PhotometricInterpretation"),
        transfer_syntax_uid=tsyntax,
        transfer_syntax_name=_uid_name(tsyntax),
        pixel_spacing=_pixel_spacing(ds, read),
        slice_thickness=read.decimal(ds, "SliceThickness"),
        manufacturer=read.text(ds, "Manufacturer"),
        model=read.text(ds, "ManufacturerModelName"),
        burned_in_annotation=read.text(ds, "BurnedInAnnotation"),
        study_instance_uid=read.text(ds, "StudyInstanceUID"),
        series_instance_uid=read.text(ds, "SeriesInstanceUID"),
        sop_instance_uid=_sop_instance_uid(ds, meta, read),
        series_number=_number(ds, "SeriesNumber", read),
        instance_number=_number(ds, "InstanceNumber", read),
    )
    phi = _phi(ds, read)
    return CheckedSummary(summary=summary, phi=phi, findings=tuple(read.findings))


def phi_fields(ds: Dataset | None) -> PhiFields:
    """The patient-identifying values of ``ds`` (all None for PNG/JPEG), each conforming
    to its VR: a name that swallowed the elements after it is left out, not kept."""
    return _phi(ds, _SummaryReader()) if ds is not None else PhiFields()


def _phi(ds: Dataset, read: _SummaryReader) -> PhiFields:
    return PhiFields(
        patient_name=read.text(ds, "PatientName"),
        patient_id=read.text(ds, "PatientID"),
        patient_birth_date=read.text(ds, "PatientBirthDate"),
        patient_sex=read.text(ds, "PatientSex"),
        accession_number=read.text(ds, "AccessionNumber"),
        institution_name=read.text(ds, "InstitutionName"),
        referring_physician_name=read.text(ds, "ReferringPhysicianName"),
        study_date=read.text(ds, "StudyDate"),
    )
