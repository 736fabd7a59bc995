"""Polarity: MONOCHROME1 and Presentation LUT Shape invert the picture once, never twice.

The DCMTK oracle for the same matrix is tests/integration/test_render_fidelity.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from corpus.generate import POLARITY_PHOTOMETRICS, POLARITY_SHAPES, POLARITY_VOIS, polarity_case
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.render import is_inverted, render


def _render(data: bytes, tmp_path: Path) -> np.ndarray:
    path = tmp_path / "case.dcm"
    path.write_bytes(data)
    return render(read_image(path, limits=ImagingLimits())).pixels


@pytest.mark.parametrize("voi", POLARITY_VOIS)
@pytest.mark.parametrize("shape", POLARITY_SHAPES)
@pytest.mark.parametrize("photometric", POLARITY_PHOTOMETRICS)
def test_the_shape_decides_when_present_and_monochrome1_otherwise(
    photometric: str, shape: str | None, voi: str, tmp_path: Path
) -> None:
    # Given a ramp from 0 (left) to 4095 (right)
    pixels = _render(polarity_case(photometric, shape, voi), tmp_path)
    # Then the low values are white exactly when the shape says INVERSE, or, without a
    # shape, when the image is MONOCHROME1
    inverted = shape == "INVERSE" if shape else photometric == "MONOCHROME1"
    left, right = int(pixels[0, 0]), int(pixels[0, -1])
    assert (left > right) == inverted
    assert abs(left - right) > 150


@pytest.mark.parametrize("voi", POLARITY_VOIS)
def test_monochrome1_with_inverse_is_inverted_once(voi: str, tmp_path: Path) -> None:
    # Given the same image as MONOCHROME1 with INVERSE, and as MONOCHROME1 without a shape
    with_shape = _render(polarity_case("MONOCHROME1", "INVERSE", voi), tmp_path)
    without = _render(polarity_case("MONOCHROME1", None, voi), tmp_path)
    # Then INVERSE restates what MONOCHROME1 means: the pictures are the same
    assert np.array_equal(with_shape, without)


@pytest.mark.parametrize(
    ("photometric", "shape", "inverted"),
    [
        ("MONOCHROME1", "LIN OD", True),  # a printer's shape: ignored, as DCMTK does
        ("MONOCHROME2", "LIN OD", False),
        ("MONOCHROME1", " inverse ", True),
        ("MONOCHROME2", "", False),
        ("MONOCHROME1", "", True),
    ],
)
def test_other_shape_values_leave_the_photometric_interpretation_in_charge(
    photometric: str, shape: str, inverted: bool
) -> None:
    ds = Dataset()
    ds.PhotometricInterpretation = photometric
    ds.PresentationLUTShape = shape
    assert is_inverted(ds) is inverted
