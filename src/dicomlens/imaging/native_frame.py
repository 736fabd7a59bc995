"""Read one frame of native (uncompressed) pixel data straight from the file (PS3.5 8.1.1).

The common integer layouts are read with one ``numpy.fromfile`` at the frame's offset, so
a large multi-frame file costs one frame of memory; other layouts go to pydicom.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset


def read_native_frame(
    path: Path, ds: Dataset, offset: int, index: int, *, little: bool
) -> np.ndarray | None:
    """Read one frame of native (uncompressed) integer pixel data straight from the file.

    ``offset`` is the file offset of the pixel data's first value byte. Covers the common
    layouts (8/16/32-bit grayscale, 8/16-bit RGB, either planar configuration); returns
    None for the rest (1-bit, YBR, float), which pydicom decodes. Unused high bits are
    masked, and signed values sign-extended from Bits Stored, as PS3.5 8.1.1 requires.
    """
    bits = int(ds.BitsAllocated)
    samples = int(ds.get("SamplesPerPixel", 1))
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if bits not in (8, 16, 32) or (samples == 3 and photometric != "RGB") or samples not in (1, 3):
        return None
    if bits == 8 and not little:
        return None  # big-endian OW swaps the bytes of 8-bit data in pairs (PS3.5 A.3)
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    stored = int(ds.get("BitsStored", bits) or bits)
    rows, cols = int(ds.Rows), int(ds.Columns)
    dtype = np.dtype(f"{'<' if little else '>'}{'i' if signed else 'u'}{bits // 8}")
    count = rows * cols * samples
    arr = np.fromfile(
        path, dtype=dtype, count=count, offset=offset + index * count * dtype.itemsize
    )
    if arr.size != count:
        return None
    arr = arr.astype(dtype.newbyteorder("="), copy=False)
    if 0 < stored < bits:
        shift = bits - stored
        arr = (arr << shift) >> shift if signed else arr & ((1 << stored) - 1)
    if samples == 1:
        return arr.reshape(rows, cols)
    if int(ds.get("PlanarConfiguration", 0)) == 1:
        return np.ascontiguousarray(arr.reshape(3, rows, cols).transpose(1, 2, 0))
    return arr.reshape(rows, cols, 3)
