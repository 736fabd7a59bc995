"""The fast PNG encoder: files any decoder reads back to exactly the pixels given."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dicomlens.imaging.output import picture, to_png
from dicomlens.imaging.png_writer import can_encode, encode_png

RNG = np.random.default_rng(16)


def _decoded(png: bytes) -> tuple[str, np.ndarray]:
    with Image.open(io.BytesIO(png)) as checked:
        checked.verify()  # chunk CRCs and structure
    with Image.open(io.BytesIO(png)) as img:
        return img.mode, np.asarray(img)


def _pictures() -> list[np.ndarray]:
    gradient = np.add.outer(np.arange(37), np.arange(53)).astype(np.uint8)
    return [
        np.zeros((1, 1), dtype=np.uint8),
        np.full((2, 3), 255, dtype=np.uint8),
        gradient,
        gradient[::-1].copy(),  # rows that go down, so Up differences wrap modulo 256
        RNG.integers(0, 256, (64, 65), dtype=np.uint8),
        RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
        np.dstack([gradient, gradient[::-1], gradient]),
        np.asfortranarray(RNG.integers(0, 256, (9, 4), dtype=np.uint8)),
    ]


@pytest.mark.parametrize("level", [0, 1, 6])
@pytest.mark.parametrize("index", range(len(_pictures())))
def test_a_png_decodes_to_exactly_its_pixels(index: int, level: int) -> None:
    # Given an 8-bit greyscale or RGB picture
    pixels = _pictures()[index]
    # When it is encoded
    png = encode_png(pixels, compress_level=level)
    # Then a decoder reads back the same mode and the same pixels
    mode, decoded = _decoded(png)
    assert mode == ("L" if pixels.ndim == 2 else "RGB")
    assert np.array_equal(decoded, pixels)


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((4, 4), dtype=np.uint16),
        np.zeros((4, 4, 4), dtype=np.uint8),
        np.zeros((4, 4, 2), dtype=np.uint8),
        np.zeros((0, 4), dtype=np.uint8),
        np.zeros(4, dtype=np.uint8),
    ],
)
def test_other_pictures_are_refused(pixels: np.ndarray) -> None:
    assert not can_encode(pixels)
    with pytest.raises(ValueError, match="8-bit greyscale or RGB"):
        encode_png(pixels, compress_level=1)


@pytest.mark.parametrize("level", [1, 6])
@pytest.mark.parametrize("shape", [(300, 200), (300, 200, 3)])
def test_previews_keep_their_pixels_at_every_level(shape: tuple[int, ...], level: int) -> None:
    # Given a rendered picture, shrunk for a preview
    pixels = RNG.integers(0, 256, shape, dtype=np.uint8)
    # When it becomes a PNG at the fast level (this encoder) or a slower one (Pillow's)
    png = to_png(pixels, size=(100, 150), compress_level=level)
    # Then the file holds the resized picture, pixel for pixel
    _, decoded = _decoded(png)
    assert np.array_equal(decoded, np.asarray(picture(pixels, (100, 150))))
