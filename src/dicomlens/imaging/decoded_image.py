"""The value the reader returns: one file's metadata and, when it has one, a decoded frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydicom.dataset import Dataset

from dicomlens.domain.results import Finding

if TYPE_CHECKING:
    from dicomlens.imaging.dicom_reader import LocatedDicom


@dataclass(frozen=True, kw_only=True)
class DecodedImage:
    """One file after reading: its metadata and, when it has an image, one decoded frame.

    ``pixels`` holds stored values (before any LUT) for grayscale and palette images, and
    RGB for colour images (YBR is converted to RGB during decoding); ``photometric`` names
    what ``pixels`` holds. ``dataset`` is None for PNG/JPEG. ``findings`` say where the
    file departs from the standard in a way the reader tolerated.
    """

    kind: Literal["dicom", "png", "jpeg"]
    dataset: Dataset | None
    pixels: np.ndarray | None
    photometric: str | None
    frame_index: int | None
    frame_count: int
    decode_seconds: float = 0.0
    findings: tuple[Finding, ...] = ()
    reduction: int = 1
    """``pixels`` hold the frame at 1/``reduction`` of its rows and columns (rounded up),
    decoded smaller for a picture that needs fewer pixels; 1: full resolution."""
    full_size: tuple[int, int] | None = None
    """(rows, columns) of the frame at full resolution when ``reduction`` > 1."""
    located: LocatedDicom | None = None
    """For a DICOM file whose pixel data was located: where it lies, as read (the data set
    is :attr:`dataset`), so a caller that needs the frame layout need not parse again."""

    @property
    def frame_size(self) -> tuple[int, int]:
        """(rows, columns) of the frame at full resolution, whatever ``reduction`` is; (0, 0)
        without a frame. Pictures and summaries are sized from this, not from ``pixels``."""
        if self.pixels is None:
            return (0, 0)
        if self.full_size is not None:
            return self.full_size
        rows, columns = self.pixels.shape[:2]
        return (int(rows), int(columns))

    @property
    def has_image(self) -> bool:
        """Whether a frame was decoded (False for SR, RT plans, waveforms ...)."""
        return self.pixels is not None
