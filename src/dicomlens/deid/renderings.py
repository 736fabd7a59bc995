"""Every 8-bit rendering of a frame in which burned-in text could be legible.

A text search on one rendering misses text that only another shows: one extreme pixel (a
32000 outlier in a CT) squeezes a min-max stretch so that text drawn in the tissue range is
faint, while the file's own window shows it plainly. :func:`frame_renderings` therefore gives
each of the file's windows (PS3.3 C.11.2.1.2) and VOI LUTs (C.11.2.1.1), a min-max stretch, a
robust percentile window (left out when it is within 10 % of min-max: the same contrast),
and, for MONOCHROME1, the inverse of each. Renderings that come out byte-identical are given
once.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from pydicom.dataset import Dataset

from dicomlens.imaging.render import (
    Window,
    apply_window,
    frame_attributes,
    modality_values,
    palette_to_rgb8,
)

PERCENTILES = (0.5, 99.5)
SAME_CONTRAST = 0.9


def frame_renderings(stored: np.ndarray, ds: Dataset, index: int) -> list[np.ndarray]:
    """The distinct 8-bit renderings (``HxW`` gray or ``HxWx3`` RGB) of frame ``index``,
    whose stored values are ``stored``."""
    attrs = frame_attributes(ds, index)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if stored.ndim == 3 and stored.shape[2] == 1:
        stored = stored[:, :, 0]
    if photometric == "PALETTE COLOR":
        rgb = palette_to_rgb8(stored, ds)  # INVALID_DICOM for a palette that cannot apply
        return _distinct([_stretch(rgb), *_gray_renderings(_luminance(rgb))])
    if stored.ndim == 3:
        return _distinct([_stretch(stored), *_gray_renderings(_luminance(stored))])
    values = modality_values(stored, attrs)
    out = [apply_window(values, window) for window in file_windows(attrs)]
    out.extend(_voi_lut_renderings(values, attrs))
    out.extend(_gray_renderings(values))
    if photometric == "MONOCHROME1":
        out.extend([255 - rendering for rendering in out])
    return _distinct(out)


def file_windows(ds: Dataset) -> list[Window]:
    """Every usable Window Center/Width pair of ``ds`` (not only the first)."""
    centers = _floats(ds.get("WindowCenter"))
    widths = _floats(ds.get("WindowWidth"))
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    windows = []
    for center, width in zip(centers, widths, strict=False):
        if width > 0 and not (function == "LINEAR" and width < 1):
            windows.append(Window(center=center, width=width, function=function))
    return windows


def rendering_key(pixels: np.ndarray) -> bytes:
    """A digest that is equal only for renderings with identical shape and bytes."""
    digest = hashlib.blake2b(np.ascontiguousarray(pixels).tobytes(), digest_size=20)
    digest.update(repr(pixels.shape).encode())
    return digest.digest()


def _gray_renderings(values: np.ndarray) -> list[np.ndarray]:
    """Min-max, and the percentile window when it is narrower than min-max by more than
    :data:`SAME_CONTRAST` (an outlier or a few extreme pixels squeeze min-max); otherwise
    it shows every value with the same contrast as min-max, within that margin."""
    lo, hi = float(values.min()), float(values.max())
    out = [_linear(values, lo, hi)]
    p_lo, p_hi = percentiles(values, lo=lo, hi=hi)
    if p_hi > p_lo and (p_hi - p_lo) < SAME_CONTRAST * (hi - lo):
        out.append(_linear(values, p_lo, p_hi))
    return out


MAX_HISTOGRAM_BINS = 1 << 16


def percentiles(values: np.ndarray, *, lo: float, hi: float) -> tuple[float, float]:
    """``np.percentile(values, PERCENTILES)``, equal to the last bit; ``lo`` and ``hi``
    are the values' minimum and maximum.

    Integer values spanning at most :data:`MAX_HISTOGRAM_BINS` (8- to 16-bit pixels, with
    an integer rescale) are counted in a histogram instead of partially sorted: the two
    order statistics around each percentile are read off the cumulative counts, and numpy
    interpolates between them with the fraction it would use (a quarter of the time on a
    512x512 frame). Anything else is handed to ``np.percentile``.
    """
    exact_integers = abs(lo) < 2**52 and float(lo).is_integer()
    if not (values.size and hi - lo < MAX_HISTOGRAM_BINS and exact_integers):
        return _numpy_percentiles(values)
    offsets = values.astype(np.int64) - int(lo)
    if not np.array_equal(offsets, values - lo):  # a fractional value somewhere
        return _numpy_percentiles(values)
    cumulative = np.cumsum(np.bincount(offsets.ravel(), minlength=int(hi - lo) + 1))
    last = values.size - 1
    found = []
    for percent in PERCENTILES:
        position = (percent / 100) * last
        below = math.floor(position)
        pair = np.searchsorted(cumulative, [below + 1, min(below + 1, last) + 1])
        neighbours = np.asarray(pair + int(lo), dtype=values.dtype)
        # a float64 fraction, as numpy's own: float32 pixels interpolate in float64 there too
        fraction = np.asarray([position - below], dtype=np.float64)
        found.append(float(np.quantile(neighbours, fraction)[0]))
    return found[0], found[1]


def _numpy_percentiles(values: np.ndarray) -> tuple[float, float]:
    low, high = (float(v) for v in np.percentile(values, PERCENTILES))
    return low, high


def _voi_lut_renderings(values: np.ndarray, ds: Dataset) -> list[np.ndarray]:
    out = []
    for item in ds.get("VOILUTSequence") or ():
        descriptor = item.get("LUTDescriptor")
        data = item.get("LUTData")
        if descriptor is None or data is None or len(descriptor) != 3:
            continue
        entries, first, _bits = (int(v) for v in descriptor)
        if first > 32767 and int(ds.get("PixelRepresentation", 0)) == 1:
            first -= 65536
        if isinstance(data, bytes):
            table = np.frombuffer(data[: len(data) // 2 * 2], dtype="<u2").astype(np.float64)
        else:
            table = np.asarray(data if isinstance(data, list | tuple) else [data], np.float64)
        table = table[: entries or 65536]
        if table.size == 0:
            continue
        index = np.clip(np.rint(values) - first, 0, table.size - 1).astype(np.intp)
        mapped = table[index]
        out.append(_linear(mapped, float(mapped.min()), float(mapped.max())))
    return out


def _linear(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.asarray(np.clip(np.rint(scaled), 0, 255), dtype=np.uint8)


def _stretch(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    return _linear(rgb, float(rgb.min()), float(rgb.max()))


def _luminance(rgb: np.ndarray) -> np.ndarray:
    weights = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    return np.asarray(rgb[..., :3].astype(np.float32) @ weights)


def _distinct(renderings: list[np.ndarray]) -> list[np.ndarray]:
    seen: set[bytes] = set()
    out = []
    for rendering in renderings:
        key = rendering_key(rendering)
        if key not in seen:
            seen.add(key)
            out.append(np.ascontiguousarray(rendering))
    return out


def _floats(value: object) -> list[float]:
    if value is None:
        return []
    iterable = hasattr(value, "__iter__") and not isinstance(value, str | bytes)
    items = list(value) if iterable else [value]  # type: ignore[call-overload]
    out = []
    for item in items:
        try:
            out.append(float(item))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    return out
