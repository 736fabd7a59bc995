"""Polarity, unusable LUTs and constant images, checked against DCMTK on generated files.

For each file DCMTK (``dcmj2pnm``) renders the same VOI choice as ours (the file's window,
its VOI LUT, the automatic or the min-max window; for padded images, which DCMTK's
automatic window does not know, our window given explicitly) and every pixel must agree
within one grey level. Each test also states what a user sees (which side is white), so a
failure says which of the two is wrong.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus.generate import (
    CONSTANT_CASES,
    LUT_PROBLEMS,
    POLARITY_PHOTOMETRICS,
    POLARITY_SHAPES,
    POLARITY_VOIS,
    constant_case,
    lut_problem_case,
    polarity_case,
)
from corpus.generate import (
    expected_lut_findings as expected_findings,
)
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.render import Rendered, render


def _dcmtk_flags(rendered: Rendered, padded: bool) -> list[str]:
    window = rendered.window
    if window.source == "file-window":
        return ["+Wi", "1"]
    if window.source == "file-voi-lut":
        return ["+Wl", "1"]
    if window.source == "min-max":
        return ["+Wm"]
    assert window.source == "automatic"
    if padded:
        return ["+Ww", f"{window.center:.6f}", f"{window.width:.6f}"]
    return ["+Wn"]


def _render_both(
    data: bytes, tmp_path: Path, require_tool: Callable[[str], str]
) -> tuple[Rendered, np.ndarray]:
    """Our rendering of ``data`` and DCMTK's with the same VOI choice."""
    path = tmp_path / "case.dcm"
    path.write_bytes(data)
    image = read_image(path, limits=ImagingLimits())
    rendered = render(image)
    padded = image.dataset is not None and "PixelPaddingValue" in image.dataset
    out = tmp_path / "dcmtk.png"
    flags = _dcmtk_flags(rendered, padded)
    result = subprocess.run(
        [require_tool("dcmj2pnm"), "+on", *flags, str(path), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"dcmj2pnm {flags} failed: {result.stderr[-500:]}"
    with Image.open(out) as img:
        reference = np.asarray(img)
    difference = np.abs(rendered.pixels.astype(np.int64) - reference.astype(np.int64))
    assert difference.max() <= 1, f"DCMTK ({' '.join(flags)}) differs by {difference.max()}"
    return rendered, reference


# --------------------------------------------------------------------------- polarity


@pytest.mark.parametrize("voi", POLARITY_VOIS)
@pytest.mark.parametrize("shape", POLARITY_SHAPES)
@pytest.mark.parametrize("photometric", POLARITY_PHOTOMETRICS)
def test_polarity_matches_dcmtk_and_inverts_at_most_once(
    photometric: str,
    shape: str | None,
    voi: str,
    tmp_path: Path,
    require_tool: Callable[[str], str],
) -> None:
    # Given a ramp from 0 (left) to 4095 (right) with this polarity and VOI
    data = polarity_case(photometric, shape, voi)
    # When we and DCMTK render it
    ours, dcmtk = _render_both(data, tmp_path, require_tool)
    # Then both show the low values white exactly when the image is inverted: the
    # Presentation LUT Shape decides when present, MONOCHROME1 otherwise
    inverted = shape == "INVERSE" if shape else photometric == "MONOCHROME1"
    for picture in (ours.pixels, dcmtk):
        left, right = int(picture[0, 0]), int(picture[0, -1])
        assert (left > right) == inverted, f"left {left}, right {right}"
        assert abs(left - right) > 150


# --------------------------------------------------------------------------- LUTs


@pytest.mark.parametrize("window", [False, True], ids=["no-window", "window"])
@pytest.mark.parametrize("problem", LUT_PROBLEMS)
@pytest.mark.parametrize("sequence", ["ModalityLUTSequence", "VOILUTSequence"])
def test_a_damaged_lut_renders_as_dcmtk_renders_it(
    sequence: str,
    problem: str,
    window: bool,
    tmp_path: Path,
    require_tool: Callable[[str], str],
) -> None:
    # Given a file whose Modality or VOI LUT Sequence is empty, incomplete or of odd length
    data = lut_problem_case(sequence, problem, window=window)
    # When we render it, it renders (no INVALID_DICOM) and agrees with DCMTK
    ours, _ = _render_both(data, tmp_path, require_tool)
    # And the user is told when the LUT was ignored or used with the entries it has
    kinds = {finding.kind for finding in ours.findings}
    assert kinds == expected_findings(sequence, problem, window=window)


# --------------------------------------------------------------------------- constant images

SHOWN_WHITE = {"label-one", "value-1000", "byte-255", "bits-all-ones"}
SHOWN_BLACK = {"zero", "signed-air", "rescaled-air", "monochrome1-one", "bits-all-zeros"}
SHOWN_BLACK |= {"only-padding"}


@pytest.mark.parametrize("kind", CONSTANT_CASES)
def test_constant_and_two_valued_images_match_dcmtk(
    kind: str, tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    # Given an image whose non-padding values take one or two values
    ours, _ = _render_both(constant_case(kind), tmp_path, require_tool)
    pixels = ours.pixels
    # Then a constant value above zero is white, zero or below (or padding) black, and
    # two values show as black and white; the window is never a width-1 threshold
    if kind in SHOWN_WHITE:
        assert set(np.unique(pixels).tolist()) == {255}
    elif kind in SHOWN_BLACK:
        # MONOCHROME1 inverts: its value 1 shows black, as DCMTK shows it
        assert set(np.unique(pixels).tolist()) == {0}
    else:
        assert set(np.unique(pixels).tolist()) == {0, 255}
    assert ours.window.width is not None
    assert ours.window.width >= 2
