"""Preview and thumbnail: bounded sizes, square display pixels, CT-only presets."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus.generate import CT_IMAGE, MR_IMAGE, attach_grey, new_dataset, ramp, to_bytes
from dicomlens.analysis.pipeline import AnalysisOptions, analyze_file
from dicomlens.imaging.output import PREVIEW_MAX, THUMBNAIL_MAX, display_size


def _write(
    folder: Path, *, rows: int, columns: int, spacing: tuple[float, float], modality: str = "MR"
) -> Path:
    ds = new_dataset(CT_IMAGE if modality == "CT" else MR_IMAGE, 60, modality)
    attach_grey(ds, ramp(rows, columns, 0, 1000).astype(np.uint16), bits_stored=16)
    ds.PixelSpacing = list(spacing)
    ds.WindowCenter, ds.WindowWidth = 500, 1000
    path = folder / f"{modality}-{rows}x{columns}.dcm"
    path.write_bytes(to_bytes(ds))
    return path


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as img:
        return img.size


def test_pixels_twice_as_tall_as_wide_are_shown_twice_as_tall(tmp_path: Path) -> None:
    # Given 300 rows x 800 columns with Pixel Spacing 1.0 (rows) \ 0.5 (columns)
    path = _write(tmp_path, rows=300, columns=800, spacing=(1.0, 0.5))
    # When it is analysed
    analysis = analyze_file(path)
    # Then the preview is 800 x 600 (square display pixels) and the thumbnail 256 x 192
    assert _size(analysis.images["preview.png"]) == (800, 600)
    assert _size(analysis.images["thumbnail.png"]) == (256, 192)
    assert analysis.result.preview_size == (800, 600)


@pytest.mark.parametrize(
    ("rows", "columns", "spacing"),
    [(1500, 1000, (1.0, 0.5)), (2000, 2000, (0.2, 0.2)), (700, 3000, (0.5, 1.0))],
)
def test_the_long_side_never_exceeds_the_limits(
    rows: int, columns: int, spacing: tuple[float, float], tmp_path: Path
) -> None:
    # Given a large image
    analysis = analyze_file(_write(tmp_path, rows=rows, columns=columns, spacing=spacing))
    preview = _size(analysis.images["preview.png"])
    thumbnail = _size(analysis.images["thumbnail.png"])
    # Then preview <= 1024 and thumbnail <= 256 on the long side, with the displayed shape
    assert max(preview) == PREVIEW_MAX
    assert max(thumbnail) == THUMBNAIL_MAX
    shown_height = rows * spacing[0]
    shown_width = columns * spacing[1]
    assert preview[0] / preview[1] == pytest.approx(shown_width / shown_height, rel=0.01)
    assert thumbnail[0] / thumbnail[1] == pytest.approx(shown_width / shown_height, rel=0.02)


def test_a_small_image_is_not_enlarged() -> None:
    assert display_size(64, 80, (1.0, 1.0), PREVIEW_MAX) == (80, 64)


def test_window_presets_are_offered_for_ct_only(tmp_path: Path) -> None:
    # Given a CT and an MR image, with presets requested
    options = AnalysisOptions(window_presets=True)
    ct = analyze_file(_write(tmp_path, rows=32, columns=32, spacing=(1, 1), modality="CT"), options)
    mr = analyze_file(_write(tmp_path, rows=32, columns=32, spacing=(1, 1), modality="MR"), options)
    # Then the CT gets the four named windows and the MR none
    assert set(ct.result.window_presets) == {"soft-tissue", "lung", "bone", "brain"}
    assert {f"window-{name}.png" for name in ct.result.window_presets} <= set(ct.images)
    assert mr.result.window_presets == ()
    assert not any(name.startswith("window-") for name in mr.images)


def test_a_thumbnail_half_the_preview_s_size_averages_each_2x2_block(tmp_path: Path) -> None:
    # Given a 512 x 512 image (preview 512, thumbnail 256: a whole factor of 2)
    path = tmp_path / "ct.dcm"
    ds = new_dataset(CT_IMAGE, 61, "CT")
    noise = np.random.default_rng(61).integers(0, 1000, size=(512, 512), dtype=np.uint16)
    attach_grey(ds, noise, bits_stored=16)
    ds.WindowCenter, ds.WindowWidth = 500, 1000
    path.write_bytes(to_bytes(ds))
    # When it is analysed
    analysis = analyze_file(path)
    with Image.open(io.BytesIO(analysis.images["preview.png"])) as img:
        preview = np.asarray(img, dtype=np.float64)
    with Image.open(io.BytesIO(analysis.images["thumbnail.png"])) as img:
        thumbnail = np.asarray(img, dtype=np.float64)
    # Then each thumbnail pixel is the mean of its 2x2 block of the preview (rounded)
    blocks = preview.reshape(256, 2, 256, 2).mean(axis=(1, 3))
    assert thumbnail.shape == (256, 256)
    assert np.abs(thumbnail - blocks).max() <= 0.5
