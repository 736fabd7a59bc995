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
    if bits == 12:
        return _packed_12_bit_frame(path, ds, offset, index)
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


def _packed_12_bit_frame(path: Path, ds: Dataset, offset: int, index: int) -> np.ndarray | None:
    """One frame of ACR-NEMA packed 12-bit grayscale: two values in three bytes.

    The bytes hold a little-endian bit stream, lowest bits first, as DCMTK and GDCM read
    it: bytes ``b0 b1 b2`` hold ``b0 | (b1 & 0x0F) << 8`` then ``b1 >> 4 | b2 << 4``.
    """
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        return None
    rows, cols = int(ds.Rows), int(ds.Columns)
    count = rows * cols
    first_bit = index * count * 12
    start = offset + first_bit // 8
    raw = np.fromfile(path, dtype=np.uint8, count=(count * 12 + 7) // 8 + 2, offset=start)
    odd_start = first_bit % 8 != 0  # an odd frame size starts mid-byte
    needed = (count * 12 + (4 if odd_start else 0) + 7) // 8
    if raw.size < needed:
        return None
    bits = np.unpackbits(raw[:needed], bitorder="little")[4 if odd_start else 0 :]
    bits = bits[: count * 12].reshape(count, 12).astype(np.uint16)
    values = (bits << np.arange(12, dtype=np.uint16)).sum(axis=1, dtype=np.uint16)
    stored = int(ds.get("BitsStored", 12) or 12)
    if 0 < stored < 12:
        values &= (1 << stored) - 1
    frame: np.ndarray = values.reshape(rows, cols)
    return frame
