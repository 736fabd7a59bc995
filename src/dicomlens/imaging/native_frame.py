"""Read one frame of native (uncompressed) pixel data straight from the file (PS3.5 8.1.1).

The common integer layouts are read with one ``numpy.fromfile`` at the frame's offset, so
a large multi-frame file costs one frame of memory; other layouts go to pydicom.

For a picture smaller than the frame, :func:`read_native_frame_reduced` reads the frame in
strips from a memory map and keeps one value per block of k x k pixels, so a 4096 x 5120
frame previewed at 1024 pixels never exists in memory at full size.
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
    if bits == 12:
        return _packed_12_bit_frame(path, ds, offset, index)
    layout = _layout(ds, little=little)
    if layout is None:
        return None
    rows, cols, samples, dtype = layout
    count = rows * cols * samples
    arr = np.fromfile(
        path, dtype=dtype, count=count, offset=offset + index * count * dtype.itemsize
    )
    if arr.size != count:
        return None
    arr = _stored_values(arr.astype(dtype.newbyteorder("="), copy=False), ds, bits)
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


def _layout(ds: Dataset, *, little: bool) -> tuple[int, int, int, np.dtype[np.integer]] | None:
    """(rows, columns, samples, file dtype) of a layout read here, or None for the rest."""
    bits = int(ds.BitsAllocated)
    samples = int(ds.get("SamplesPerPixel", 1))
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if bits not in (8, 16, 32) or (samples == 3 and photometric != "RGB") or samples not in (1, 3):
        return None
    if bits == 8 and not little:
        return None  # big-endian OW swaps the bytes of 8-bit data in pairs (PS3.5 A.3)
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    dtype = np.dtype(f"{'<' if little else '>'}{'i' if signed else 'u'}{bits // 8}")
    return int(ds.Rows), int(ds.Columns), samples, dtype


def _stored_values(arr: np.ndarray, ds: Dataset, bits: int) -> np.ndarray:
    """``arr`` with unused high bits masked, or signed values sign-extended from Bits Stored."""
    stored = int(ds.get("BitsStored", bits) or bits)
    if 0 < stored < bits:
        shift = bits - stored
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        return (arr << shift) >> shift if signed else arr & ((1 << stored) - 1)
    return arr


_STRIP_PIXELS = 1 << 22
"""Source pixels read per strip: bounds the reader's working memory (32 MB as int64)."""


def reduction_factor(rows: int, columns: int, max_side: int) -> int:
    """The largest k whose 1/k-size frame still has a long side of at least ``max_side``."""
    return max(1, max(rows, columns) // max(1, max_side))


def read_native_frame_reduced(
    path: Path, ds: Dataset, offset: int, index: int, *, little: bool, max_side: int
) -> tuple[np.ndarray, int] | None:
    """One frame of native pixel data at 1/k of its size (k >= 2), and k; None when the
    frame is not more than twice ``max_side`` or its layout is not one read here.

    Each output pixel is the mean, rounded, of a k x k block of stored values (blocks at
    the right and bottom edges may be smaller), which is the box filter an image scaler
    applies first when it shrinks by a large factor; palette indices are sampled instead,
    since the mean of two indices is a third colour. The frame is read in strips from a
    memory map. The long side of the result is at least ``max_side``.
    """
    layout = _layout(ds, little=little) if int(ds.BitsAllocated) != 12 else None
    if layout is None:
        return None
    rows, cols, samples, dtype = layout
    k = reduction_factor(rows, cols, max_side)
    if k < 2:
        return None
    count = rows * cols * samples
    start = offset + index * count * dtype.itemsize
    planar = samples == 3 and int(ds.get("PlanarConfiguration", 0)) == 1
    shape = (samples, rows, cols) if planar else (rows, cols, samples)
    try:
        mapped = np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape)
    except (ValueError, OSError):
        return None  # shorter than the frame: the full reader decides
    frame = mapped.transpose(1, 2, 0) if planar else mapped
    palette = str(ds.get("PhotometricInterpretation", "")).strip().upper() == "PALETTE COLOR"
    bits = int(ds.BitsAllocated)
    native = dtype.newbyteorder("=")
    if palette:
        reduced = _stored_values(np.array(frame[::k, ::k]).astype(native), ds, bits)
    else:
        reduced = _block_means(frame, k, ds, bits, native)
    del frame, mapped
    return (reduced[:, :, 0] if samples == 1 else reduced), k


def _block_means(
    frame: np.ndarray, k: int, ds: Dataset, bits: int, native: np.dtype[np.integer]
) -> np.ndarray:
    """Rounded means of the k x k blocks of ``frame`` (rows x columns x samples)."""
    rows, cols, samples = frame.shape
    out = np.empty((-(-rows // k), -(-cols // k), samples), dtype=native)
    column_starts = np.arange(0, cols, k)
    column_counts = np.diff(np.append(column_starts, cols))
    strip_rows = max(k, _STRIP_PIXELS // max(1, cols * samples) // k * k)
    for top in range(0, rows, strip_rows):
        strip = _stored_values(np.array(frame[top : top + strip_rows]).astype(native), ds, bits)
        sums, row_counts = _row_block_sums(strip, k)
        sums = np.add.reduceat(sums, column_starts, axis=1)
        counts = np.outer(row_counts, column_counts)[:, :, None]
        out[top // k : top // k + len(row_counts)] = np.rint(sums / counts).astype(native)
    return out


def _row_block_sums(strip: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The sums of each k rows of ``strip`` (the last group may have fewer), and how many
    rows each sum holds. Strided adds: numpy's ``reduceat`` along rows is 20x slower."""
    height = strip.shape[0]
    whole = height // k * k
    groups = []
    counts = []
    if whole:
        sums = strip[0:whole:k].astype(np.int64)
        for offset in range(1, k):
            sums += strip[offset:whole:k]
        groups.append(sums)
        counts += [k] * (whole // k)
    if whole < height:
        groups.append(strip[whole:].sum(axis=0, dtype=np.int64, keepdims=True))
        counts.append(height - whole)
    return np.concatenate(groups), np.asarray(counts)
