"""Rendering: the VOI functions, MONOCHROME1, enhanced-object windows, presets, automatic window."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from corpus import real_files
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.decode import DecodedImage, read_image
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.render import (
    AUTOMATIC,
    CT_PRESETS,
    MIN_MAX,
    Window,
    WindowChoice,
    apply_window,
    frame_attributes,
    render,
)

LIMITS = ImagingLimits()


def _values(*numbers: float) -> np.ndarray:
    return np.asarray(numbers, dtype=np.float64)


# --------------------------------------------------------------------------- VOI functions
# Expected outputs are PS3.3 C.11.2.1.2 evaluated by hand for an 8-bit output (0..255).


def test_linear_window_follows_the_standard_formula() -> None:
    # Given window centre 40, width 400 (soft tissue)
    window = Window(center=40, width=400)
    # x <= c - 0.5 - (w-1)/2 = -160 -> 0;  x > c - 0.5 + (w-1)/2 = 239 -> 255
    # x = 40: ((40 - 39.5) / 399 + 0.5) * 255 = 127.82 -> 128
    # x = 139.25: ((139.25 - 39.5) / 399 + 0.5) * 255 = 191.25 -> 191
    out = apply_window(_values(-1000, -160, 40, 139.25, 239, 240, 3000), window)
    assert out.tolist() == [0, 0, 128, 191, 255, 255, 255]


def test_linear_exact_window_follows_the_standard_formula() -> None:
    # Given LINEAR_EXACT centre 500, width 400: y = ((x - c) / w + 0.5) * 255, clamped
    window = Window(center=500, width=400, function="LINEAR_EXACT")
    # x = 300 -> 0; x = 400 -> 63.75 -> 64; x = 500 -> 127.5 -> 128; x = 700 -> 255
    out = apply_window(_values(0, 300, 400, 500, 700, 900), window)
    assert out.tolist() == [0, 0, 64, 128, 255, 255]


def test_sigmoid_window_follows_the_standard_formula() -> None:
    # Given SIGMOID centre 500, width 400: y = 255 / (1 + exp(-4 (x - c) / w))
    window = Window(center=500, width=400, function="SIGMOID")
    # x = 600 -> 255 / (1 + e^-1) = 186.4 -> 186; x = 400 -> 68.6 -> 69
    out = apply_window(_values(400, 600, 500 + 400 * math.log(3) / 4), window)
    # x = c + w ln(3) / 4 -> 255 / (1 + 1/3) = 191.25 -> 191
    assert out.tolist() == [69, 186, 191]


def test_a_one_wide_linear_window_is_a_threshold() -> None:
    # PS3.3 C.11.2.1.2.1: width 1 splits at c - 0.5
    out = apply_window(_values(9, 9.5, 10), Window(center=10, width=1))
    assert out.tolist() == [0, 0, 255]


# --------------------------------------------------------------------------- files


def _read(path: Path, frame: int | None = None) -> DecodedImage:
    return read_image(path, limits=LIMITS, frame=frame)


def test_monochrome1_shows_low_values_bright(generated_corpus: dict[str, Path]) -> None:
    # Given a MONOCHROME1 image (low values mean white) with a window
    image = _read(generated_corpus["gen_monochrome1.dcm"])
    assert image.pixels is not None
    rendered = render(image)
    # Then its darkest stored value is shown white and its brightest black
    low = np.unravel_index(np.argmin(image.pixels), image.pixels.shape)
    high = np.unravel_index(np.argmax(image.pixels), image.pixels.shape)
    assert rendered.pixels[low] == 255
    assert rendered.pixels[high] == 0


def test_signed_pixels_are_rescaled_before_the_window(generated_corpus: dict[str, Path]) -> None:
    # Given signed 12-bit CT, slope 0.5, intercept 100, window 40/400
    image = _read(generated_corpus["gen_signed_rescale.dcm"])
    assert image.pixels is not None
    stored = image.pixels.astype(np.float64)
    # Then each pixel shows the window applied to 0.5 * stored + 100 (in HU)
    expected = apply_window(stored * 0.5 + 100, Window(center=40, width=400))
    assert np.array_equal(render(image).pixels, expected)
    assert image.pixels.min() < 0


def test_the_automatic_window_leaves_padding_out(generated_corpus: dict[str, Path]) -> None:
    # Given a CT without window whose corners hold Pixel Padding Value -3000
    rendered = render(_read(generated_corpus["gen_ct_padding.dcm"]))
    # Then the window spans the scanned values (about -1000 .. 1500), not the padding
    window = rendered.window
    assert window.source == "automatic"
    assert window.center is not None
    assert window.width is not None
    assert window.center - window.width / 2 > -1100
    assert window.width < 2600


def test_enhanced_ct_uses_the_window_of_its_functional_groups() -> None:
    # Given the enhanced CT example, whose only window is in Shared Functional Groups
    path = next(p for p in real_files() if p.name == "eCT_Supplemental.dcm")
    rendered = render(_read(path))
    # Then the preview uses that window (49 / 102)
    assert rendered.window.source == "file-window"
    assert (rendered.window.center, rendered.window.width) == (49.0, 102.0)


def _voi_item(center: float, width: float) -> Dataset:
    voi = Dataset()
    voi.WindowCenter, voi.WindowWidth = center, width
    item = Dataset()
    item.FrameVOILUTSequence = Sequence([voi])
    return item


def test_a_frame_window_wins_over_the_shared_one_which_wins_over_the_top_level() -> None:
    # Given a top-level window, a shared functional-group window, and one for frame 1 only
    ds = Dataset()
    ds.WindowCenter, ds.WindowWidth = 1, 2
    ds.SharedFunctionalGroupsSequence = Sequence([_voi_item(100, 200)])
    ds.PerFrameFunctionalGroupsSequence = Sequence([Dataset(), _voi_item(300, 50)])
    # Then frame 0 gets the shared window and frame 1 its own
    frame0 = frame_attributes(ds, 0)
    frame1 = frame_attributes(ds, 1)
    assert (float(frame0.WindowCenter), float(frame0.WindowWidth)) == (100.0, 200.0)
    assert (float(frame1.WindowCenter), float(frame1.WindowWidth)) == (300.0, 50.0)


@pytest.mark.parametrize(("preset", "center_width"), sorted(CT_PRESETS.items()))
def test_ct_presets_apply_their_named_window(
    preset: str, center_width: tuple[float, float], generated_corpus: dict[str, Path]
) -> None:
    # Given a CT image
    image = _read(generated_corpus["gen_signed_rescale.dcm"])
    assert image.pixels is not None
    # When a named preset is asked for
    rendered = render(image, window=WindowChoice.of_preset(preset))
    # Then the picture is that window over the HU values
    center, width = center_width
    hu = image.pixels.astype(np.float64) * 0.5 + 100
    assert np.array_equal(rendered.pixels, apply_window(hu, Window(center=center, width=width)))
    assert rendered.window.preset == preset


def test_an_unknown_preset_is_refused(generated_corpus: dict[str, Path]) -> None:
    image = _read(generated_corpus["gen_signed_rescale.dcm"])
    with pytest.raises(DicomlensError) as caught:
        render(image, window=WindowChoice.of_preset("liver-ish"))
    assert caught.value.code == ErrorCode.VALIDATION_ERROR


def test_planar_rgb_shows_the_colours_it_stores(generated_corpus: dict[str, Path]) -> None:
    # Given RGB stored plane by plane (planar configuration 1): red grows left to right,
    # green top to bottom
    rendered = render(_read(generated_corpus["gen_planar_rgb.dcm"]))
    pixels = rendered.pixels
    # Then the top-right pixel is red, the bottom-left green
    assert pixels.shape == (30, 40, 3)
    assert tuple(pixels[0, -1][:2]) == (255, 0)
    assert tuple(pixels[-1, 0][:2]) == (0, 255)


def test_a_one_bit_segmentation_shows_black_and_white(generated_corpus: dict[str, Path]) -> None:
    rendered = render(_read(generated_corpus["gen_one_bit.dcm"]))
    assert set(np.unique(rendered.pixels).tolist()) == {0, 255}
    assert rendered.pixels[14, 18] == 255  # inside the disc
    assert rendered.pixels[0, 0] == 0


def test_the_min_max_window_spans_every_value_padding_included(
    generated_corpus: dict[str, Path],
) -> None:
    # Given a CT whose padding (-3000) lies below its scanned values (-1000 .. 1188)
    image = _read(generated_corpus["gen_ct_padding.dcm"])
    # When the min-max window is asked for
    rendered = render(image, window=MIN_MAX)
    # Then it spans -3000 .. 1188 (DCMTK's +Wm), while the automatic one leaves padding out
    assert rendered.window.source == "min-max"
    assert (rendered.window.center, rendered.window.width) == ((-3000 + 1188 + 1) / 2, 4189)
    assert render(image, window=AUTOMATIC).window.source == "automatic"


def test_an_explicit_window_is_applied_as_given(generated_corpus: dict[str, Path]) -> None:
    # Given a CT image and an explicit window
    image = _read(generated_corpus["gen_signed_rescale.dcm"])
    assert image.pixels is not None
    window = Window(center=0, width=200, function="LINEAR_EXACT")
    rendered = render(image, window=WindowChoice.of_window(window))
    # Then that window is applied to the HU values
    hu = image.pixels.astype(np.float64) * 0.5 + 100
    assert np.array_equal(rendered.pixels, apply_window(hu, window))
    assert (rendered.window.center, rendered.window.width) == (0, 200)


@pytest.mark.parametrize(
    "arguments",
    [
        {"mode": "explicit"},
        {"mode": "auto", "window": Window(center=1, width=2)},
        {"preset": "lung"},
    ],
)
def test_a_window_choice_carries_a_window_exactly_when_explicit(
    arguments: dict[str, object],
) -> None:
    with pytest.raises(ValueError, match="window choice"):
        WindowChoice(**arguments)  # type: ignore[arg-type]
