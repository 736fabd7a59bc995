"""Automatic windows of constant images never black the picture out.

The DCMTK oracle for the generated files is tests/integration/test_render_fidelity.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpus.generate import constant_case
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.render import AUTOMATIC, MIN_MAX, WindowChoice, render
from dicomlens.imaging.voi import apply_window, constant_window, min_max_window


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1.0, 255), (1000.0, 255), (0.25, 255), (0.0, 0), (-1000.0, 0), (-0.5, 0)],
)
def test_a_constant_value_shows_against_zero(value: float, shown: int) -> None:
    # Given an image whose every value is ``value``
    values = np.full(6, value)
    window, adapted = min_max_window(values, None, ignore_extremes=True)
    # Then above zero is white, zero or below black, with a window at least 2 wide
    assert apply_window(values, window).tolist() == [shown] * 6
    assert window.width >= 2
    assert adapted


@pytest.mark.parametrize("value", [0.0, 1.0, 4095.0, -3000.0])
def test_an_image_of_padding_only_shows_black(value: float) -> None:
    values = np.full(4, value)
    window, _ = min_max_window(values, np.zeros(4, dtype=bool), ignore_extremes=True)
    assert apply_window(values, window).tolist() == [0] * 4
    assert window == constant_window(value, padding=True)


def test_two_values_show_black_and_white() -> None:
    values = np.array([5.0, 9.0, 5.0, 9.0])
    window, adapted = min_max_window(values, None, ignore_extremes=True)
    assert apply_window(values, window).tolist() == [0, 255, 0, 255]
    assert not adapted  # the plain min-max window (DCMTK +Wm)


def _render(kind: str, tmp_path: Path, choice: WindowChoice = AUTOMATIC) -> np.ndarray:
    path = tmp_path / f"{kind}.dcm"
    path.write_bytes(constant_case(kind))
    return render(read_image(path, limits=ImagingLimits()), window=choice).pixels


@pytest.mark.parametrize("choice", [AUTOMATIC, MIN_MAX], ids=["automatic", "min-max"])
@pytest.mark.parametrize("kind", ["label-one", "bits-all-ones", "value-1000", "byte-255"])
def test_a_one_label_map_or_an_all_ones_mask_shows_white(
    kind: str, choice: WindowChoice, tmp_path: Path
) -> None:
    # DCMTK's +Wm shows these black (a width-1 window at the value); ours never does
    assert set(np.unique(_render(kind, tmp_path, choice)).tolist()) == {255}


@pytest.mark.parametrize("kind", ["zero", "bits-all-zeros", "signed-air", "rescaled-air"])
def test_zero_and_below_show_black(kind: str, tmp_path: Path) -> None:
    assert set(np.unique(_render(kind, tmp_path)).tolist()) == {0}


def test_a_label_on_padding_shows_white_on_black(tmp_path: Path) -> None:
    # Given a one-label map whose background is Pixel Padding Value 0
    pixels = _render("label-on-padding", tmp_path)
    # Then the label is white and the padding black
    assert pixels[0, 0] == 0
    assert pixels[0, -1] == 255


def test_a_constant_monochrome1_image_is_inverted(tmp_path: Path) -> None:
    assert set(np.unique(_render("monochrome1-one", tmp_path)).tolist()) == {0}
