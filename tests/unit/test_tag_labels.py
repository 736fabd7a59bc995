"""Labels from DICOM tags: what a person calls the examination and the body part."""

from __future__ import annotations

import pytest

from dicomlens.domain.results import ImageSummary
from dicomlens.imaging.tag_labels import tag_labels


@pytest.mark.parametrize(
    ("modality", "label"),
    [
        ("CT", "CT Scan"),
        ("MR", "MRI Scan"),
        ("CR", "X-Ray"),
        ("DX", "X-Ray"),
        ("US", "Ultrasound"),
        ("MG", "Mammography"),
        ("NM", "Nuclear Medicine"),
        ("ct", "CT Scan"),
    ],
)
def test_modality_gives_the_examination_name(modality: str, label: str) -> None:
    labels = tag_labels(ImageSummary(modality=modality))
    assert [(lb.name, lb.category, lb.source) for lb in labels] == [
        (label, "modality", "dicom-tags")
    ]
    assert labels[0].confidence == 1.0


@pytest.mark.parametrize(
    ("body_part", "label"),
    [
        ("CHEST", "Chest"),
        ("BRAIN", "Brain"),
        ("ABDOMEN", "Abdomen"),
        ("abdomen pelvis", "Abdomen and Pelvis"),
        ("HEAD", "Head"),
    ],
)
def test_body_part_gives_the_anatomy(body_part: str, label: str) -> None:
    labels = tag_labels(ImageSummary(modality="CT", body_part=body_part))
    assert [lb.name for lb in labels] == ["CT Scan", label]
    assert labels[1].category == "body-part"


def test_unknown_or_missing_tags_give_no_label() -> None:
    assert tag_labels(ImageSummary(modality="XYZ", body_part="ELSEWHERE")) == ()
    assert tag_labels(ImageSummary()) == ()
