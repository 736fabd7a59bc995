"""Reduced-resolution decoding over every real file of the corpus (pydicom, pydicom-data).

- The JPEG 2000 path through Pillow/OpenJPEG, asked for full resolution, returns exactly
  what the full decoder returns, on every real J2K file it takes; it must take most.
- ``read_image(max_side=...)`` on any real file gives the full frame, or a smaller one of
  the promised size: native blocks are the means of the full frame's blocks (palette
  indices sampled), J2K frames keep the dtype.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from corpus.real import real_files
from dicomlens.domain.errors import DicomlensError
from dicomlens.imaging.codestream_check import J2K_FAMILY
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.j2k_reduced import decode_at_level
from dicomlens.imaging.limits import ImagingLimits

LIMITS = ImagingLimits()
SIDE = 40  # small enough that most real frames are more than twice as large


def _full(path: Path) -> np.ndarray | None:
    try:
        image = read_image(path, limits=LIMITS, frame=0)
    except DicomlensError:
        return None
    return image.pixels


def test_the_j2k_path_at_full_resolution_equals_the_full_decoder() -> None:
    taken, seen = [], 0
    for path in real_files():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path)
                syntax = ds.file_meta.TransferSyntaxUID
            except Exception:  # noqa: S112 - the corpus's deliberately broken files
                continue
            if syntax not in J2K_FAMILY or "PixelData" not in ds:
                continue
            full = _full(path)
            if full is None:
                continue
            seen += 1
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            codestream = next(generate_frames(ds.PixelData, number_of_frames=frames))
        ours = decode_at_level(codestream, ds, 0)
        if ours is None:
            continue
        taken.append(path.name)
        assert ours.dtype == full.dtype, path.name
        np.testing.assert_array_equal(ours, full, err_msg=path.name)
    assert seen >= 15
    assert len(taken) >= seen - 3, f"taken: {taken}"


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_a_reduced_frame_is_the_full_one_or_a_smaller_one_of_the_promised_size(
    path: Path,
) -> None:
    full = _full(path)
    if full is None:
        return
    reduced = read_image(path, limits=LIMITS, frame=0, max_side=SIDE)
    assert reduced.pixels is not None
    k = reduced.reduction
    rows, columns = full.shape[:2]
    assert reduced.frame_size == (rows, columns)
    if k == 1:
        np.testing.assert_array_equal(reduced.pixels, full)
        return
    assert max(reduced.pixels.shape[:2]) >= SIDE
    assert reduced.pixels.shape[:2] == (-(-rows // k), -(-columns // k))
    assert reduced.pixels.dtype == full.dtype
    assert reduced.dataset is not None
    syntax = reduced.dataset.file_meta.get("TransferSyntaxUID")
    if syntax is None or syntax not in J2K_FAMILY:  # native: the only other reduced kind
        if reduced.photometric == "PALETTE COLOR":
            np.testing.assert_array_equal(reduced.pixels, full[::k, ::k])
        else:
            np.testing.assert_array_equal(reduced.pixels, _block_means(full, k))


def _block_means(frame: np.ndarray, k: int) -> np.ndarray:
    rows, columns = frame.shape[:2]
    padded_rows, padded_columns = -(-rows // k) * k, -(-columns // k) * k
    values = np.zeros((padded_rows, padded_columns, *frame.shape[2:]))
    counts = np.zeros((padded_rows, padded_columns, *frame.shape[2:]))
    values[:rows, :columns] = frame
    counts[:rows, :columns] = 1
    shape = (padded_rows // k, k, padded_columns // k, k, *frame.shape[2:])
    sums = values.reshape(shape).sum(axis=(1, 3))
    return np.rint(sums / counts.reshape(shape).sum(axis=(1, 3))).astype(frame.dtype)
