"""Encode rendered pictures as the files users get: preview and thumbnail PNGs."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from dicomlens.imaging.limits import PNG_COMPRESS_LEVEL
from dicomlens.imaging.png_writer import encode_png

PREVIEW_MAX = 1024
THUMBNAIL_MAX = 256
FAST_PNG_MAX_LEVEL = 1  # above it, Pillow's filter search buys smaller files
# Pillow's reducing gap for previews: at 3.0 a shrink is indistinguishable from a pure
# Lanczos resampling. Thumbnails use 1.0: a shrink by a whole factor (512 to 256) averages
# each block of pixels (Image.reduce) instead, 0.1 ms against Lanczos' 1.9 ms on 512x512
# (a fifth of a CT slice's analysis), with the slightly softer result a 256-pixel icon can
# afford; other factors reduce by the whole part, then resample the rest with Lanczos.
PREVIEW_REDUCING_GAP = 3.0
THUMBNAIL_REDUCING_GAP = 1.0


def display_size(
    rows: int, columns: int, aspect: tuple[float, float], limit: int
) -> tuple[int, int]:
    """(width, height) with square display pixels and the long side at most ``limit``.

    ``aspect`` is (row spacing, column spacing) or the Pixel Aspect Ratio (vertical,
    horizontal); a picture is never enlarged except to make its pixels square.
    """
    vertical, horizontal = aspect
    width, height = float(columns), float(rows)
    if vertical > 0 and horizontal > 0 and not np.isclose(vertical, horizontal):
        if vertical > horizontal:
            height *= vertical / horizontal
        else:
            width *= horizontal / vertical
    scale = min(1.0, limit / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def picture(
    pixels: np.ndarray,
    size: tuple[int, int] | None,
    *,
    reducing_gap: float = PREVIEW_REDUCING_GAP,
) -> Image.Image:
    """An 8-bit picture as an image, resized to ``size`` (width, height) if given: Lanczos
    when shrinking (after Pillow's block reduction by ``reducing_gap``), bicubic when
    enlarging."""
    img = Image.fromarray(np.ascontiguousarray(pixels))
    if size is not None and size != img.size:
        shrinking = size[0] < img.size[0]
        img = img.resize(
            size,
            Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC,
            reducing_gap=reducing_gap if shrinking else None,
        )
    return img


def to_png(
    pixels: np.ndarray,
    *,
    size: tuple[int, int] | None = None,
    compress_level: int = PNG_COMPRESS_LEVEL,
    reducing_gap: float = PREVIEW_REDUCING_GAP,
) -> bytes:
    """PNG bytes of an 8-bit picture, resized (Lanczos when shrinking) to ``size`` if given.

    At the fast levels (0 and 1) greyscale and RGB pictures go through the faster encoder of
    :mod:`dicomlens.imaging.png_writer`; Pillow's encodes the rest."""
    img = picture(pixels, size, reducing_gap=reducing_gap)
    if compress_level <= FAST_PNG_MAX_LEVEL and img.mode in ("L", "RGB"):
        return encode_png(np.asarray(img), compress_level=compress_level)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()
