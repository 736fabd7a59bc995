"""Labels derived from DICOM tags (modality, body part), each naming its source."""

from __future__ import annotations

from dicomlens.domain.results import ImageSummary, Label

SOURCE = "dicom-tags"

# PS3.3 C.7.3.1.1.1 defined terms -> what a person calls the examination.
MODALITY_LABELS: dict[str, str] = {
    "CT": "CT Scan",
    "MR": "MRI Scan",
    "CR": "X-Ray",
    "DX": "X-Ray",
    "DR": "X-Ray",
    "RF": "Fluoroscopy",
    "XA": "Angiography",
    "MG": "Mammography",
    "US": "Ultrasound",
    "IVUS": "Ultrasound",
    "NM": "Nuclear Medicine",
    "PT": "PET Scan",
    "OT": "Other Image",
    "SC": "Secondary Capture",
    "SEG": "Segmentation",
    "RTDOSE": "Radiotherapy Dose",
    "RTPLAN": "Radiotherapy Plan",
    "RTSTRUCT": "Radiotherapy Structures",
    "RTIMAGE": "Radiotherapy Image",
    "SR": "Structured Report",
    "ECG": "ECG Waveform",
    "OP": "Ophthalmic Photography",
    "OPT": "Optical Coherence Tomography",
    "XC": "External Camera Photography",
    "ES": "Endoscopy",
    "SM": "Slide Microscopy",
    "IO": "Intra-oral X-Ray",
    "PX": "Panoramic X-Ray",
    "BMD": "Bone Densitometry",
    "DOC": "Document",
    "KO": "Key Object Selection",
    "PR": "Presentation State",
}

# PS3.16 CID 4031 body parts (Body Part Examined values) -> anatomical label.
BODY_PART_LABELS: dict[str, str] = {
    "CHEST": "Chest",
    "THORAX": "Chest",
    "LUNG": "Lung",
    "HEART": "Heart",
    "BREAST": "Breast",
    "HEAD": "Head",
    "BRAIN": "Brain",
    "SKULL": "Skull",
    "NECK": "Neck",
    "HEADNECK": "Head and Neck",
    "ABDOMEN": "Abdomen",
    "LIVER": "Liver",
    "KIDNEY": "Kidney",
    "PELVIS": "Pelvis",
    "ABDOMENPELVIS": "Abdomen and Pelvis",
    "CHESTABDOMEN": "Chest and Abdomen",
    "CHESTABDPELVIS": "Chest, Abdomen and Pelvis",
    "SPINE": "Spine",
    "CSPINE": "Cervical Spine",
    "TSPINE": "Thoracic Spine",
    "LSPINE": "Lumbar Spine",
    "SSPINE": "Sacral Spine",
    "SHOULDER": "Shoulder",
    "ARM": "Arm",
    "ELBOW": "Elbow",
    "WRIST": "Wrist",
    "HAND": "Hand",
    "HIP": "Hip",
    "LEG": "Leg",
    "KNEE": "Knee",
    "ANKLE": "Ankle",
    "FOOT": "Foot",
    "EXTREMITY": "Extremity",
    "WHOLEBODY": "Whole Body",
    "EYE": "Eye",
    "JAW": "Jaw",
    "TMJ": "Jaw",
    "PROSTATE": "Prostate",
    "UTERUS": "Uterus",
    "FETUS": "Fetus",
    "PHANTOM": "Phantom",
}


def tag_labels(summary: ImageSummary) -> tuple[Label, ...]:
    """Labels for the modality and the body part, with confidence 1 (they are recorded facts)."""
    labels: list[Label] = []
    if summary.modality:
        name = MODALITY_LABELS.get(summary.modality.strip().upper())
        if name:
            labels.append(Label(name=name, confidence=1.0, source=SOURCE, category="modality"))
    if summary.body_part:
        key = "".join(summary.body_part.upper().split())
        name = BODY_PART_LABELS.get(key)
        if name:
            labels.append(Label(name=name, confidence=1.0, source=SOURCE, category="body-part"))
    return tuple(labels)
