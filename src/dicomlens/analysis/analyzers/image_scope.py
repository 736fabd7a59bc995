"""Which pictures are photographs: the test behind ``ImageScope`` (an analyzer that applies
only to photographs, such as a face detector or an ImageNet classifier, is not run on a CT
slice)."""

from __future__ import annotations

from dicomlens.analysis.analyzers._runtime import is_grayscale
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
