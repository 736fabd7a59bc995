"""Decode a JPEG 2000 or HTJ2K frame at a reduced resolution, for pictures smaller than it.

A JPEG 2000 codestream holds its image as a pyramid of wavelet resolution levels (ISO
15444-1 Annex F): discarding the ``n`` finest levels yields the image at 1/2**n of its size,
and the decoder reads and transforms only the coarser levels. For a lossless (5/3) frame
that image is the low-pass band of the reversible transform. A 1024-pixel preview of a
4096 x 5120 mammogram needs only 1/16 of its pixels.

OpenJPEG decodes with a reduction (``opj_set_decoded_resolution_factor``), and Pillow's
JPEG 2000 plugin, linked to it, exposes that as ``reduce``; pylibjpeg-openjpeg, the
full-resolution decoder, does not. Pillow widens N-bit samples to 8 or 16 bits and offsets
signed ones (``Jpeg2KDecode.c``); :func:`decode_reduced` undoes both, as pydicom's Pillow
decoder does. It takes only frames whose result is then exactly what the full decoder's
would be at that resolution; for every other frame it returns None, and the caller
decodes the full frame.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset

from dicomlens.domain.errors import DicomlensError
from dicomlens.imaging.codestream_header import (
    BufferBytes,
    CodestreamHeader,
    read_j2k_header,
    read_j2k_levels,
)

_GRAY = frozenset({"MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"})
_COLOUR = frozenset({"RGB", "YBR_ICT", "YBR_RCT"})
"""Colour frames Pillow returns as the full decoder does: RGB, after the inverse component
transform the codestream declares (YBR_FULL in a codestream is not converted by it)."""


def reduction_levels(rows: int, columns: int, levels: int, max_side: int) -> int:
    """How many resolution levels to discard so the long side stays at least ``max_side``.

    At most ``levels`` (the codestream's decomposition levels); 0 when the frame is not
    larger than twice ``max_side``.
    """
    long_side = max(rows, columns)
    reduce = 0
    while reduce < levels and math.ceil(long_side / 2 ** (reduce + 1)) >= max_side:
        reduce += 1
    return reduce


def decode_reduced(codestream: bytes, ds: Dataset, max_side: int) -> tuple[np.ndarray, int] | None:
    """The frame in ``codestream`` at 1/2**n of its size, its long side at least ``max_side``,
    and n; None when no level can be discarded or the frame is not one this path takes.

    The values are stored values, as the full decoder returns them: the dtype follows
    Bits Allocated and Pixel Representation. Taken: one-sample frames (monochrome,
    palette) of up to 16 bits and 8-bit RGB / YBR_ICT / YBR_RCT frames whose codestream
    agrees with the dataset on samples and sign, with a precision that fits Bits
    Allocated; the values are the codestream's, as the full decoder's are.
    """
    source = BufferBytes(codestream)
    try:
        header = read_j2k_header(source)
        levels = read_j2k_levels(source)
    except DicomlensError:
        return None
    reduce = reduction_levels(header.rows, header.columns, levels, max_side)
    if reduce == 0:
        return None
    pixels = _decode(codestream, header, ds, reduce)
    return None if pixels is None else (pixels, reduce)


def decode_at_level(codestream: bytes, ds: Dataset, reduce: int) -> np.ndarray | None:
    """The frame in ``codestream`` with its ``reduce`` finest resolution levels discarded
    (0: the full frame), as :func:`decode_reduced` describes; None when this path does not
    take the frame or the decoder refuses the reduction."""
    try:
        header = read_j2k_header(BufferBytes(codestream))
    except DicomlensError:
        return None
    return _decode(codestream, header, ds, reduce)


def _decode(
    codestream: bytes, header: CodestreamHeader, ds: Dataset, reduce: int
) -> np.ndarray | None:
    """:func:`decode_at_level` for a codestream whose SIZ header was read as ``header``."""
    if not _takes(header.samples, header.precision, header.signed, ds):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(codestream), formats=("JPEG2000",))
            image.reduce = reduce  # type: ignore[method-assign,assignment]
            image.load()
            raw = np.asarray(image)
    except (OSError, ValueError, SyntaxError, MemoryError, Image.DecompressionBombError):
        return None  # e.g. a tile header with fewer levels than the main header
    return _stored_values(raw, header.precision, header.signed, ds)


def _takes(samples: int, precision: int, signed: bool, ds: Dataset) -> bool:
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    try:
        declared = int(ds.get("SamplesPerPixel", 1) or 1)
        bits_stored = int(ds.get("BitsStored", 0) or 0)
        bits_allocated = int(ds.get("BitsAllocated", 0) or 0)
        pixel_representation = int(ds.get("PixelRepresentation", 0) or 0)
    except (TypeError, ValueError):
        return False
    if samples != declared or signed != bool(pixel_representation) or not bits_stored:
        return False
    if bits_allocated not in (8, 16) or precision > bits_allocated:
        return False
    if samples == 1:
        return photometric in _GRAY and precision <= 16
    return samples == 3 and photometric in _COLOUR and precision == 8


def _stored_values(raw: np.ndarray, precision: int, signed: bool, ds: Dataset) -> np.ndarray:
    """Pillow's 8- or 16-bit unsigned samples back to ``precision``-bit stored values."""
    container = raw.dtype.itemsize * 8
    values = raw.astype(np.int32)
    if signed:
        values -= 1 << (container - 1)
    if shift := container - precision:
        values >>= shift  # arithmetic: signed values keep their sign
    bits_allocated = int(ds.BitsAllocated)
    dtype = np.dtype(f"{'i' if signed else 'u'}{bits_allocated // 8}")
    return values.astype(dtype)
