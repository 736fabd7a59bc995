"""The coded concepts of the analysis report (PS3.16): standard codes where they exist,
else codes of our private coding scheme ``99DCMLENS``, declared in the report's Coding
Scheme Identification Sequence (PS3.3 C.12.1.1.2; a private designator starts with "99").

Only names of kinds are coded, never what was read from a file (OCR text is PHI).
"""

from __future__ import annotations

import hashlib
import re

from pydicom.sr.coding import Code

from dicomlens.domain.results import Label

PRIVATE_SCHEME = "99DCMLENS"
PRIVATE_SCHEME_NAME = "dicomlens analysis concepts"
PRIVATE_SCHEME_RESPONSIBLE = "dicomlens"

# TID 1500 row 1 / TID 1501: the procedure the report is about (SCT "Imaging").
PROCEDURE_IMAGING = Code("363679005", "SCT", "Imaging")
# TID 1500: the report-level container of qualitative evaluations (PS3.16 TID 1500 row 12).
QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")
MODALITY = Code("121139", "DCM", "Modality")
DEVICE = Code("121007", "DCM", "Device")
FINDING_SITE = Code("363698007", "SCT", "Finding Site")
WHOLE_IMAGE = Code("whole-image", PRIVATE_SCHEME, "Whole image")
IMAGE_LABEL = Code("image-label", PRIVATE_SCHEME, "Image label")
ASSOCIATED_FINDING = Code("246090004", "SCT", "Associated finding")

# Finding kinds with a box (src/dicomlens/analysis/analyzers) -> the region's finding type.
_FINDING_TYPES: dict[str, Code] = {
    "face": Code("89545001", "SCT", "Face structure"),
    "burned-in text": Code("burned-in-text", PRIVATE_SCHEME, "Burned-in text"),
    "burned-in PHI suspected": Code(
        "burned-in-phi", PRIVATE_SCHEME, "Burned-in text suspected to identify the patient"
    ),
    "burned-in-annotation-mismatch": Code(
        "annotation-undecl", PRIVATE_SCHEME, "Burned-in text the file declares absent"
    ),
}

# PS3.16 CID 29 (Acquisition Modality): the code value is the Modality defined term.
_MODALITY_MEANINGS: dict[str, str] = {
    "CT": "Computed Tomography",
    "MR": "Magnetic Resonance",
    "CR": "Computed Radiography",
    "DX": "Digital Radiography",
    "RF": "Radio Fluoroscopy",
    "XA": "X-Ray Angiography",
    "MG": "Mammography",
    "US": "Ultrasound",
    "NM": "Nuclear Medicine",
    "PT": "Positron emission tomography",
    "OP": "Ophthalmic photography",
    "XC": "External-camera Photography",
    "ES": "Endoscopy",
    "SM": "Slide Microscopy",
    "IO": "Intra-oral Radiography",
    "PX": "Panoramic X-Ray",
    "OT": "Other",
}

# Body part labels (imaging/tag_labels.py) with their SNOMED CT code (PS3.16 CID 4031).
_BODY_PARTS: dict[str, str] = {
    "Chest": "43799004",
    "Lung": "39607008",
    "Heart": "80891009",
    "Breast": "76752008",
    "Head": "69536005",
    "Brain": "12738006",
    "Neck": "45048000",
    "Abdomen": "113345001",
    "Liver": "10200004",
    "Kidney": "64033007",
    "Pelvis": "12921003",
    "Knee": "72696002",
    "Hand": "85562004",
    "Foot": "56459004",
    "Shoulder": "16982005",
    "Eye": "81745001",
    "Prostate": "41216001",
    "Uterus": "35039007",
}

_MEANING_MAX = 64  # Code Meaning is LO
_PRIVATE_VALUE_MAX = 16  # Code Value is SH


def finding_type(kind: str) -> Code:
    """The finding type of a region of a finding of ``kind`` (a private code for a kind
    without its own entry, named after the kind)."""
    known = _FINDING_TYPES.get(kind)
    if known is not None:
        return known
    return Code(_private_value(kind), PRIVATE_SCHEME, kind[:_MEANING_MAX] or "finding")


def label_evaluation(label: Label, modality: str | None) -> tuple[Code, Code]:
    """The (concept name, value) pair of a label's qualitative evaluation.

    A modality label is (DCM Modality, the CID 29 code of the file's modality); a body part
    label (SCT Finding Site, its SNOMED CT code) when it has one; any other label (Image
    label, a private code named after the label).
    """
    if label.category == "modality" and modality:
        term = modality.strip().upper()
        if term in _MODALITY_MEANINGS:
            return MODALITY, Code(term, "DCM", _MODALITY_MEANINGS[term])
    if label.category == "body-part" and label.name in _BODY_PARTS:
        return FINDING_SITE, Code(_BODY_PARTS[label.name], "SCT", label.name)
    meaning = label.name[:_MEANING_MAX] or "label"
    return IMAGE_LABEL, Code(_private_value(label.name), PRIVATE_SCHEME, meaning)


def _private_value(name: str) -> str:
    """A code value of the private scheme for ``name``: lower case, words joined by ``-``,
    at most 16 characters (SH); a longer one is cut and ends with a hash of the whole name,
    so that two names never share a value."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unnamed"
    if len(slug) <= _PRIVATE_VALUE_MAX:
        return slug
    digest = hashlib.sha256(name.encode()).hexdigest()[:4]
    return f"{slug[: _PRIVATE_VALUE_MAX - 5].rstrip('-')}-{digest}"
