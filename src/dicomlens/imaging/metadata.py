"""Metadata of a DICOM dataset: a non-PHI summary and, separately, the PHI fields.

Values are taken verbatim from the file (multi-valued ones as tuples), so that a summary
equals what ``dcmdump`` prints for the same attributes.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID

from dicomlens.domain.results import ImageSummary, PhiFields
from dicomlens.imaging.decoded_image import DecodedImage


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None:
        return None
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = text.strip(" \x00")
    return text or None


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _float(ds: Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    spacing: Any = ds.get("PixelSpacing")
    if spacing is None:
        shared = ds.get("SharedFunctionalGroupsSequence")
        measures = shared[0].get("PixelMeasuresSequence") if shared else None
        spacing = measures[0].get("PixelSpacing") if measures else None
    if spacing is None:
        spacing = ds.get("ImagerPixelSpacing")
    try:
        row, col = (float(v) for v in spacing)
    except (TypeError, ValueError):
        return None
    return (row, col)


def _uid_name(uid: str | None) -> str | None:
    if not uid:
        return None
    name = str(UID(uid).name)
    return name if name != uid else None


def summarize(image: DecodedImage) -> ImageSummary:
    """The non-PHI summary of ``image`` (for PNG/JPEG: only the geometry)."""
    ds = image.dataset
    if ds is None:
        arr = image.pixels
        if arr is None:
            return ImageSummary(frames=0)
        return ImageSummary(
            rows=int(arr.shape[0]),
            columns=int(arr.shape[1]),
            frames=image.frame_count,
            samples_per_pixel=1 if arr.ndim == 2 else int(arr.shape[2]),
            bits_allocated=8,
            bits_stored=8,
            photometric_interpretation=image.photometric,
        )
    meta = getattr(ds, "file_meta", None)
    tsyntax = _text(meta, "TransferSyntaxUID") if meta is not None else None
    sop_class = _text(ds, "SOPClassUID") or (
        _text(meta, "MediaStorageSOPClassUID") if meta is not None else None
    )
    return ImageSummary(
        modality=_text(ds, "Modality"),
        sop_class_uid=sop_class,
        sop_class_name=_uid_name(sop_class),
        body_part=_text(ds, "BodyPartExamined"),
        study_description=_text(ds, "StudyDescription"),
        series_description=_text(ds, "SeriesDescription"),
        laterality=_text(ds, "Laterality") or _text(ds, "ImageLaterality"),
        view_position=_text(ds, "ViewPosition"),
        rows=_int(ds, "Rows"),
        columns=_int(ds, "Columns"),
        frames=image.frame_count if image.has_image else (_int(ds, "NumberOfFrames") or 0),
        samples_per_pixel=_int(ds, "SamplesPerPixel"),
        bits_allocated=_int(ds, "BitsAllocated"),
        bits_stored=_int(ds, "BitsStored"),
        pixel_representation=_int(ds, "PixelRepresentation"),
        photometric_interpretation=_text(ds, "PhotometricInterpretation"),
        transfer_syntax_uid=tsyntax,
        transfer_syntax_name=_uid_name(tsyntax),
        pixel_spacing=_pixel_spacing(ds),
        slice_thickness=_float(ds, "SliceThickness"),
        manufacturer=_text(ds, "Manufacturer"),
        model=_text(ds, "ManufacturerModelName"),
        burned_in_annotation=_text(ds, "BurnedInAnnotation"),
    )


def phi_fields(ds: Dataset | None) -> PhiFields:
    """The patient-identifying values of ``ds`` (all None for PNG/JPEG)."""
    if ds is None:
        return PhiFields()
    return PhiFields(
        patient_name=_text(ds, "PatientName"),
        patient_id=_text(ds, "PatientID"),
        patient_birth_date=_text(ds, "PatientBirthDate"),
        patient_sex=_text(ds, "PatientSex"),
        accession_number=_text(ds, "AccessionNumber"),
        institution_name=_text(ds, "InstitutionName"),
        referring_physician_name=_text(ds, "ReferringPhysicianName"),
        study_date=_text(ds, "StudyDate"),
    )
