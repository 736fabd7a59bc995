"""Pixel confidentiality (PS3.15 E.3.1, Clean Pixel Data): burned-in text blacked out.

Regions come from two places: text found by a :data:`TextLocator` (the OCR analyzer) on a
few frames of the original, and :class:`~dicomlens.deid.profile.RegionRule` rules for the
modality and device. Every region is blacked out in every frame. Redacted pixel data is
written uncompressed (Explicit VR Little Endian): a lossy original is decoded and stored
losslessly, never re-compressed lossy, and keeps Lossy Image Compression ``01``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pack_bits
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
)

from dicomlens.deid.options import RegionRule
from dicomlens.deid.profile import ProfileOptions
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.results import Box
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.render import MIN_MAX, render

TextLocator = Callable[[np.ndarray], Sequence[Box]]
"""Finds text in an 8-bit rendered frame; boxes are fractions of the frame's size."""

PADDING_PX = 3

# Transfer syntaxes whose pixel data may have lost information (PS3.5 A.4), with the
# Lossy Image Compression Method each implies (PS3.3 C.7.6.1.1.5.1).
LOSSY_METHODS: dict[str, str] = {
    JPEGBaseline8Bit: "ISO_10918_1",
    JPEGExtended12Bit: "ISO_10918_1",
    JPEGLSNearLossless: "ISO_14495_1",
    JPEG2000: "ISO_15444_1",
    HTJ2K: "ISO_15444_15",
}


@dataclass(frozen=True, kw_only=True)
class Rect:
    """A region in pixels (inclusive left/top, exclusive right/bottom)."""

    left: int
    top: int
    right: int
    bottom: int


@dataclass(frozen=True, kw_only=True)
class RedactionPlan:
    """The regions to black out, and whether the pixels were searched for text at all."""

    rects: tuple[Rect, ...]
    text_searched: bool
    text_regions: int = 0


def rule_rects(ds: Dataset, rules: Sequence[RegionRule]) -> list[Rect]:
    """The regions of every rule that matches ``ds``."""
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    modality = str(ds.get("Modality", "") or "")
    manufacturer = str(ds.get("Manufacturer", "") or "").lower()
    model = str(ds.get("ManufacturerModelName", "") or "").lower()
    rects = []
    for rule in rules:
        if rule.modality is not None and rule.modality != modality:
            continue
        if rule.manufacturer is not None and rule.manufacturer.lower() not in manufacturer:
            continue
        if rule.model is not None and rule.model.lower() not in model:
            continue
        if (rule.rows is not None and rule.rows != rows) or (
            rule.columns is not None and rule.columns != columns
        ):
            continue
        if rule.top_rows:
            rects.append(Rect(left=0, top=0, right=columns, bottom=min(rule.top_rows, rows)))
        for left, top, width, height in rule.regions:
            rects.append(_clip(left, top, left + width, top + height, rows=rows, columns=columns))
    return rects


def plan_redaction(
    source: Path,
    ds: Dataset,
    options: ProfileOptions,
    *,
    locator: TextLocator | None,
    limits: ImagingLimits,
) -> RedactionPlan:
    """Where to black out ``ds`` (read from ``source``), from the rules and the text found."""
    if "PixelData" not in ds:
        return RedactionPlan(rects=(), text_searched=False)
    rects = rule_rects(ds, options.region_rules)
    if options.pixel_text == "off":
        return RedactionPlan(rects=tuple(rects), text_searched=False)
    if locator is None:
        if options.pixel_text == "required":
            raise DicomlensError(
                ErrorCode.DEIDENTIFICATION_FAILED,
                "burned-in text cannot be searched: the OCR analyzer is not installed "
                "(install the analyzers extra, or set DICOMLENS_DEID_PIXEL_TEXT=auto|off)",
            )
        return RedactionPlan(rects=tuple(rects), text_searched=False)
    rows, columns = int(ds.Rows), int(ds.Columns)
    found = 0
    for frame in _frames_to_scan(int(ds.get("NumberOfFrames", 1) or 1), options.ocr_frames):
        try:
            image = read_image(source, limits=limits, frame=frame)
            pixels = render(image, window=MIN_MAX).pixels
        except DicomlensError as exc:
            raise DicomlensError(
                ErrorCode.REDACTION_IMPOSSIBLE,
                f"the pixel data cannot be decoded to look for burned-in text ({exc.code})",
            ) from exc
        for box in locator(pixels):
            found += 1
            rects.append(
                _clip(
                    round(box.left * columns) - PADDING_PX,
                    round(box.top * rows) - PADDING_PX,
                    round((box.left + box.width) * columns) + PADDING_PX,
                    round((box.top + box.height) * rows) + PADDING_PX,
                    rows=rows,
                    columns=columns,
                )
            )
    return RedactionPlan(rects=tuple(rects), text_searched=True, text_regions=found)


def redact(ds: Dataset, rects: Sequence[Rect]) -> None:
    """Black out ``rects`` in every frame of ``ds`` and store the pixels uncompressed
    (with no ``rects``: only re-encode, which drops bits above Bits Stored).

    Raises REDACTION_IMPOSSIBLE when the pixel data cannot be decoded.
    """
    source_syntax = UID(ds.file_meta.TransferSyntaxUID)
    if "PixelData" not in ds:
        raise DicomlensError(ErrorCode.REDACTION_IMPOSSIBLE, "the file has no Pixel Data")
    try:
        arr = np.array(ds.pixel_array, copy=True)
    except Exception as exc:  # pydicom and its plugins raise many types for bad pixel data
        raise DicomlensError(
            ErrorCode.REDACTION_IMPOSSIBLE,
            f"the pixel data cannot be decoded for redaction ({type(exc).__name__})",
        ) from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    rows, columns = int(ds.Rows), int(ds.Columns)
    expected = frames * rows * columns * samples
    if arr.size < expected:
        raise DicomlensError(
            ErrorCode.REDACTION_IMPOSSIBLE, "the pixel data is shorter than its frames need"
        )
    arr = arr.reshape(-1)[:expected]  # excess frames beyond Number of Frames are dropped
    view = arr.reshape(frames, rows, columns, samples)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    fill = view.max() if photometric == "MONOCHROME1" else (0 if samples == 3 else view.min())
    for rect in rects:
        view[:, rect.top : rect.bottom, rect.left : rect.right, :] = fill
    bits_allocated = int(ds.BitsAllocated)
    if bits_allocated == 1:
        data = pack_bits(arr)
    else:
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    if len(data) % 2:
        data += b"\x00"
    ds.PixelData = data
    ds["PixelData"].VR = "OB" if bits_allocated <= 8 else "OW"
    ds["PixelData"].is_undefined_length = False
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in ds:
            delattr(ds, keyword)
    if samples == 3:
        if photometric.startswith("YBR"):
            ds.PhotometricInterpretation = "RGB"  # decoding converted the samples to RGB
        ds.PlanarConfiguration = 0
    lossy = str(ds.get("LossyImageCompression", "")).strip() == "01"
    if source_syntax in LOSSY_METHODS and "LossyImageCompression" not in ds:
        lossy = True
        ds.LossyImageCompressionMethod = LOSSY_METHODS[source_syntax]
    if lossy:
        ds.LossyImageCompression = "01"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if rects:
        ds.BurnedInAnnotation = "NO"


def has_embedded_overlay(ds: Dataset) -> bool:
    """An overlay kept in the unused high bits of Pixel Data (retired, PS3.3 C.9.2): its
    group has no Overlay Data of its own. Re-encoding from the decoded stored values (which
    ignore bits above Bits Stored) removes it."""
    for group in range(0x6000, 0x6020, 2):
        if (group << 16 | 0x0010) in ds and (group << 16 | 0x3000) not in ds:
            return True
    return False


def _frames_to_scan(frames: int, wanted: int) -> list[int]:
    if wanted >= frames:
        return list(range(frames))
    return sorted({round(i) for i in np.linspace(0, frames - 1, max(wanted, 1))})


def _clip(left: int, top: int, right: int, bottom: int, *, rows: int, columns: int) -> Rect:
    return Rect(
        left=max(0, min(left, columns)),
        top=max(0, min(top, rows)),
        right=max(0, min(right, columns)),
        bottom=max(0, min(bottom, rows)),
    )
