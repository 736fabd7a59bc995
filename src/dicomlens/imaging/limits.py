"""Limits checked before any pixel is decoded, and the PNG encoding default.

A light module (no numpy): :mod:`dicomlens.config` takes its defaults from here.
"""

from __future__ import annotations

from dataclasses import dataclass

PNG_COMPRESS_LEVEL = 1
"""zlib level of preview PNGs: level 1 gives most of level 9's size in a fraction of its time."""


@dataclass(frozen=True, kw_only=True)
class ImagingLimits:
    """Resource limits for one file.

    ``max_frame_samples`` bounds rows x columns x samples of the one frame that is decoded;
    ``max_total_samples`` bounds rows x columns x frames x samples declared by the header
    (a decompression-bomb guard: a small compressed file must not claim a huge image).
    """

    max_file_bytes: int = 2 * 1024**3
    max_frame_samples: int = 120_000_000
    max_total_samples: int = 8 * 1024**3
    max_inflated_bytes: int = 192 * 1024**2  # deflate is inflated whole: keeps RSS < 300 MB
    decode_timeout_s: float = 60.0
