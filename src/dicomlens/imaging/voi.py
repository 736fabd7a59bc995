"""VOI windows (PS3.3 C.11.2): how one is chosen, read from a file, computed and applied.

:class:`WindowChoice` is the one way a caller of :func:`dicomlens.imaging.render.render`
says which window it wants: the file's, an automatic one, the full range, or an explicit
window (a named CT preset is an explicit window with a name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydicom.dataset import Dataset

from dicomlens.domain.errors import DicomlensError, ErrorCode

CT_PRESETS: dict[str, tuple[float, float]] = {
    "soft-tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (300.0, 1500.0),
    "brain": (40.0, 80.0),
}

WindowMode = Literal["file", "auto", "min-max", "explicit"]


@dataclass(frozen=True, kw_only=True)
class Window:
    """A VOI window, PS3.3 C.11.2.1.2."""

    center: float
    width: float
    function: str = "LINEAR"


@dataclass(frozen=True, kw_only=True)
class WindowChoice:
    """Which grayscale VOI :func:`~dicomlens.imaging.render.render` applies.

    ``mode``:

    - ``"file"``: the first window of the file (or of the frame's functional groups), else
      its VOI LUT Sequence, else the automatic window;
    - ``"auto"``: the automatic window, which leaves out padding values and the extreme
      values (like DCMTK ``+Wn``);
    - ``"min-max"``: a window spanning every value, padding included (DCMTK ``+Wm``);
    - ``"explicit"``: ``window``, with ``preset`` naming it when it is one of
      :data:`CT_PRESETS`.

    Build explicit choices with :meth:`of_window` or :meth:`of_preset`; the other modes
    are the constants :data:`FROM_FILE`, :data:`AUTOMATIC` and :data:`MIN_MAX`.
    """

    mode: WindowMode = "file"
    window: Window | None = None
    preset: str | None = None

    def __post_init__(self) -> None:
        if (self.mode == "explicit") != (self.window is not None):
            raise ValueError("an explicit window choice, and only that, carries a window")
        if self.preset is not None and self.mode != "explicit":
            raise ValueError("only an explicit window choice names a preset")

    @classmethod
    def of_window(cls, window: Window) -> WindowChoice:
        """Apply ``window`` as it is."""
        return cls(mode="explicit", window=window)

    @classmethod
    def of_preset(cls, name: str) -> WindowChoice:
        """The named CT window (:data:`CT_PRESETS`); VALIDATION_ERROR for an unknown name."""
        if name not in CT_PRESETS:
            raise DicomlensError(ErrorCode.VALIDATION_ERROR, f"unknown window preset {name!r}")
        center, width = CT_PRESETS[name]
        return cls(mode="explicit", window=Window(center=center, width=width), preset=name)


FROM_FILE = WindowChoice(mode="file")
AUTOMATIC = WindowChoice(mode="auto")
MIN_MAX = WindowChoice(mode="min-max")


def first_window(ds: Dataset) -> Window | None:
    """The first Window Center/Width pair with its VOI LUT Function, if the file has one."""
    centers = _floats(ds.get("WindowCenter"))
    widths = _floats(ds.get("WindowWidth"))
    if not centers or not widths:
        return None
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    width = widths[0]
    if width <= 0 or (function == "LINEAR" and width < 1):
        return None
    return Window(center=centers[0], width=width, function=function)


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """Modality values -> 8 bit through ``window`` (PS3.3 C.11.2.1.2.1 and .2.2)."""
    c, w = window.center, window.width
    if window.function == "SIGMOID":
        out = 255.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    elif window.function == "LINEAR_EXACT":
        out = ((values - c) / w + 0.5) * 255.0
    else:
        if w <= 1:
            return np.where(values <= c - 0.5, 0, 255).astype(np.uint8)
        out = ((values - (c - 0.5)) / (w - 1) + 0.5) * 255.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def min_max_window(
    values: np.ndarray, mask: np.ndarray | None, *, ignore_extremes: bool
) -> tuple[Window, bool]:
    """A window spanning the values (``mask`` selects those that are not padding).

    Returns the window and whether it is other than DCMTK's plain min-max window (``+Wm``):
    the extreme values were left out, or the image is constant.

    With ``ignore_extremes`` the smallest and largest distinct values are left out, as
    DCMTK's "min-max window ignoring extreme values" does, unless the image is binary (a
    segmentation) or that leaves nothing.

    A window never blacks out the whole image. When every value selected is the same one
    (a label map with one label, an all-ones bit mask, a uniform phantom) the window spans
    zero to that value: a value above zero shows white, zero or below shows black, which
    is what DCMTK's ``+Wn`` shows for such images. When ``mask`` selects nothing (the image
    is all padding), the padding value shows black.
    """
    data = values[mask] if mask is not None else values.ravel()
    only_padding = data.size == 0 and values.size > 0
    if data.size == 0:
        data = values.ravel()
    lo, hi = float(data.min()), float(data.max())
    if lo == hi:
        return constant_window(lo, padding=only_padding), True
    trimmed = False
    if ignore_extremes:
        inner = data[(data > lo) & (data < hi)]
        if inner.size and float(inner.max()) > float(inner.min()):
            lo, hi, trimmed = float(inner.min()), float(inner.max()), True
    return _spanning(lo, hi), trimmed


def constant_window(value: float, *, padding: bool = False) -> Window:
    """The window of an image whose every (non-padding) value is ``value``.

    It spans zero to ``value``, so ``value`` shows white when above zero and black
    otherwise; ``padding`` values always show black. Its width is at least 2: a width-1
    window is a threshold at the value itself, which shows everything black.
    """
    if value > 0 and not padding:
        return _spanning(min(0.0, value - 1.0), value)
    return _spanning(value, max(0.0, value + 1.0))


def _spanning(lo: float, hi: float) -> Window:
    # DCMTK's convention: the window maps [lo, hi] exactly onto [0, 255].
    return Window(center=(lo + hi + 1) / 2, width=hi - lo + 1)


def _floats(value: Any) -> list[float]:
    if value is None or value == "":
        return []
    items = (
        list(value)
        if isinstance(value, list | tuple)
        or (hasattr(value, "__iter__") and not isinstance(value, str | bytes))
        else [value]
    )
    out: list[float] = []
    for item in items:
        number = to_float(item, math.nan)
        if not math.isnan(number):
            out.append(number)
    return out


def to_float(value: Any, default: float) -> float:
    """``value`` as a finite float, else ``default``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default
