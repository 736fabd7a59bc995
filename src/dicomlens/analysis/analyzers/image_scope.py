"""Which pictures are photographs: the test behind ``ImageScope`` (an analyzer that applies
only to photographs, such as a face detector or an ImageNet classifier, is not run on a CT
slice)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from dicomlens.analysis.analyzers._runtime import is_grayscale
from dicomlens.analysis.analyzers.spec import ImageScope
from dicomlens.ports import AnalyzerInput

# Acquisition modalities whose pictures are never photographs, even in colour (Doppler
# ultrasound, fused PET, angiography ...). Photographic ones (XC, OP, ES, GM, SM) and
# secondary captures (OT, SC) are photographs when they carry colour.
NON_PHOTOGRAPHIC_MODALITIES = frozenset(
    {
        "CT",
        "MR",
        "CR",
        "DX",
        "DR",
        "RF",
        "XA",
        "MG",
        "US",
        "IVUS",
        "NM",
        "PT",
        "IO",
        "PX",
        "BMD",
        "OPT",
        "RTIMAGE",
        "RTDOSE",
        "SEG",
    }
)


def is_photograph(frame: AnalyzerInput) -> bool:
    """Whether ``frame`` may be a photograph: a PNG/JPEG upload (colour or not), or a DICOM
    picture in colour whose Modality is not one of :data:`NON_PHOTOGRAPHIC_MODALITIES`.
    A grayscale DICOM picture of any modality is a medical image, not a photograph."""
    modality = (frame.summary.modality or "").upper()
    if modality in NON_PHOTOGRAPHIC_MODALITIES:
        return False
    medical = frame.kind == "dicom" or bool(modality)
    return not (medical and is_grayscale(frame.pixels))


def certainly_medical(header: Dataset) -> bool:
    """Whether the DICOM picture of ``header`` (its data set, pixels not needed) is a medical
    image whatever its pixels hold: its Modality is one of
    :data:`NON_PHOTOGRAPHIC_MODALITIES`, or its photometric interpretation is MONOCHROME1 or
    MONOCHROME2 (rendered grayscale). :func:`is_photograph` then says False."""
    modality = str(header.get("Modality", "") or "").strip().upper()
    photometric = str(header.get("PhotometricInterpretation", "") or "").strip().upper()
    return modality in NON_PHOTOGRAPHIC_MODALITIES or photometric.startswith("MONOCHROME")


def excluded_by_header(scope: ImageScope, header: Dataset) -> bool:
    """Whether an analyzer of ``scope`` is certain to be skipped for the DICOM picture of
    ``header``, before its pixels are decoded: a photographs-only analyzer on a
    :func:`certainly_medical` picture, or one for other modalities. False whenever the
    pixels could still decide otherwise."""
    modality = str(header.get("Modality", "") or "").strip() or None
    if certainly_medical(header):
        return scope.unmet_by(photograph=False, modality=modality) is not None
    if scope.modalities is None:
        return False
    return (
        ImageScope(modalities=scope.modalities).unmet_by(photograph=True, modality=modality)
        is not None
    )
