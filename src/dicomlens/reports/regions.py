"""Finding boxes as image regions on the source instance's pixel grid.

A :class:`~dicomlens.domain.results.Box` is relative to the analysed frame (fractions of
its width and height): the analyzers see the rendered frame at the instance's own Rows x
Columns, and the preview is only a scaled copy. SCOORD Graphic Data is in image pixels,
column then row, with 0.0\\0.0 the top left corner of the top left pixel and
Columns\\Rows the bottom right corner of the bottom right pixel (PS3.3 C.18.6.1.2).
"""

from __future__ import annotations

import numpy as np

from dicomlens.domain.results import Box


def box_polyline(box: Box, *, rows: int, columns: int) -> np.ndarray | None:
    """The closed polyline (5 points, the first repeated last) around ``box`` on a
    ``rows`` x ``columns`` image, clipped to the image; None for a box with no area inside
    it. Points are (column, row) in pixels, as SCOORD Graphic Data."""
    left = _clip(box.left * columns, columns)
    right = _clip((box.left + box.width) * columns, columns)
    top = _clip(box.top * rows, rows)
    bottom = _clip((box.top + box.height) * rows, rows)
    if right <= left or bottom <= top:
        return None
    return np.array(
        [[left, top], [right, top], [right, bottom], [left, bottom], [left, top]],
        dtype=np.float32,
    )


def _clip(value: float, limit: int) -> float:
    return round(min(max(value, 0.0), float(limit)), 3)
