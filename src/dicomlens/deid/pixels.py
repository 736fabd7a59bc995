"""Pixel confidentiality (PS3.15 E.3.1, Clean Pixel Data): burned-in text blacked out.

Regions come from two places: text found by searching every frame of the original in
every rendering and orientation (:mod:`dicomlens.deid.text_search`), blacked out on the
frame where it was found; and :class:`~dicomlens.deid.profile.RegionRule` rules for the
modality and device, blacked out on every frame. The pixel data is always rebuilt from the
decoded values and written uncompressed (Explicit VR Little Endian), whether or not anything
was blacked out: a lossy original is stored losslessly, never re-compressed lossy, and keeps
Lossy Image Compression ``01``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass

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
from dicomlens.deid.text_search import BoxLocator, FoundText, TextFinder, TextSearch, as_finder
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.codestream_check import check_dataset_codestreams
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.validation import check_native_length

TextLocator = TextFinder | BoxLocator
"""Finds text in an 8-bit rendered frame: a detector with a recogniser
(:class:`~dicomlens.deid.text_search.TextFinder`), or a plain box locator."""

PADDING_RATIO = 0.35
"""Each text box grows on every side by this fraction of its text height: glyph edges a
detector's box clips stay readable, and they are larger for larger text."""
MIN_PADDING_PX = 2

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
    """The regions to black out (``rects`` on every frame, ``frame_rects`` on the frame they
    name), and whether the pixels were searched for text at all."""

    rects: tuple[Rect, ...]
    text_searched: bool
    frame_rects: tuple[tuple[int, Rect], ...] = ()
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


def decode_frames(ds: Dataset, *, limits: ImagingLimits) -> np.ndarray:
    """Every frame of ``ds`` as stored values, ``frames x rows x columns x samples``.

    Bytes beyond the last frame are not part of the result. Raises TOO_LARGE beyond the
    limits, INVALID_DICOM when a frame's codestream header claims more than the dataset
    (checked before anything is decoded), TRUNCATED_PIXEL_DATA when native pixel data is
    shorter than its frames need, and REDACTION_IMPOSSIBLE when the pixel data
    cannot be decoded (codec missing, corrupt or short data): text that cannot be searched
    cannot be certified absent.
    """
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    expected = frames * rows * columns * samples
    if expected > limits.max_total_samples:
        raise DicomlensError(ErrorCode.TOO_LARGE, "the image has more samples than allowed")
    if expected == 0:
        raise DicomlensError(ErrorCode.REDACTION_IMPOSSIBLE, "the image has no rows or columns")
    tsyntax = ds.file_meta.TransferSyntaxUID
    if tsyntax.is_compressed:  # each frame's own header claims no more than the dataset's
        check_dataset_codestreams(ds, tsyntax, limits)
    else:  # native frames short of what the header declares are refused before decoding
        _check_native_length(ds, frames)
    try:
        arr = np.array(ds.pixel_array, copy=True)
    except Exception as exc:  # pydicom and its plugins raise many types for bad pixel data
        raise DicomlensError(
            ErrorCode.REDACTION_IMPOSSIBLE,
            f"the pixel data cannot be decoded to look for burned-in text ({type(exc).__name__})",
        ) from exc
    if arr.size < expected:
        raise DicomlensError(
            ErrorCode.REDACTION_IMPOSSIBLE, "the pixel data is shorter than its frames need"
        )
    return arr.reshape(-1)[:expected].reshape(frames, rows, columns, samples)


def _check_native_length(ds: Dataset, frames: int) -> None:
    """TRUNCATED_PIXEL_DATA when native Pixel Data holds fewer bytes than the declared
    frames need (the processing reader's own rule, YBR_FULL_422 included)."""
    raw = ds.get("PixelData")
    if isinstance(raw, bytes | bytearray):  # float pixel data: pydicom's own checks follow
        check_native_length(ds, frames, len(raw), len(raw))


def plan_redaction(
    frames: np.ndarray,
    ds: Dataset,
    options: ProfileOptions,
    *,
    search: TextSearch | None,
) -> RedactionPlan:
    """Where to black out ``ds`` (whose decoded ``frames`` are given): the region rules on
    every frame, and each text region found by searching every frame
    (:class:`~dicomlens.deid.text_search.TextSearch`) on its own frame, padded in
    proportion to the height of its text."""
    rects = rule_rects(ds, options.region_rules)
    if options.pixel_text == "off":
        return RedactionPlan(rects=tuple(rects), text_searched=False)
    if search is None:
        if options.pixel_text == "required":
            raise DicomlensError(
                ErrorCode.DEIDENTIFICATION_FAILED,
                "burned-in text cannot be searched: the OCR analyzer is not installed "
                "(install the analyzers extra, or set DICOMLENS_DEID_PIXEL_TEXT=auto|off)",
            )
        return RedactionPlan(rects=tuple(rects), text_searched=False)
    rows, columns = frames.shape[1], frames.shape[2]
    per_frame: dict[int, list[Rect]] = {}
    for hit in search.search(frames, ds):
        if hit.to_redact():
            per_frame.setdefault(hit.frame, []).append(padded_rect(hit, rows=rows, columns=columns))
    frame_rects = tuple(
        (index, rect) for index in sorted(per_frame) for rect in merge_overlapping(per_frame[index])
    )
    return RedactionPlan(
        rects=tuple(rects),
        frame_rects=frame_rects,
        text_searched=True,
        text_regions=len(frame_rects),
    )


def merge_overlapping(rects: Sequence[Rect]) -> list[Rect]:
    """``rects`` with every group of overlapping ones replaced by their bounding box (the
    same text found in several renderings and orientations becomes one region)."""
    merged: list[Rect] = []
    for rect in sorted(rects, key=astuple):
        grown = rect
        while (other := next((m for m in merged if _overlap(m, grown)), None)) is not None:
            merged.remove(other)
            grown = Rect(
                left=min(grown.left, other.left),
                top=min(grown.top, other.top),
                right=max(grown.right, other.right),
                bottom=max(grown.bottom, other.bottom),
            )
        merged.append(grown)
    return merged


def _overlap(a: Rect, b: Rect) -> bool:
    return a.left < b.right and b.left < a.right and a.top < b.bottom and b.top < a.bottom


def text_search(locator: TextLocator, *, workers: int = 1) -> TextSearch:
    """A search over every frame, rendering and orientation with ``locator``."""
    return TextSearch(as_finder(locator), workers=workers)


def padded_rect(hit: FoundText, *, rows: int, columns: int) -> Rect:
    """The box of ``hit`` grown on every side by :data:`PADDING_RATIO` of its text height
    (at least :data:`MIN_PADDING_PX`), clipped to the frame."""
    pad = max(MIN_PADDING_PX, math.ceil(PADDING_RATIO * hit.text_height))
    return _clip(
        math.floor(hit.left) - pad,
        math.floor(hit.top) - pad,
        math.ceil(hit.right) + pad,
        math.ceil(hit.bottom) + pad,
        rows=rows,
        columns=columns,
    )


def rebuild_pixels(ds: Dataset, frames: np.ndarray, plan: RedactionPlan) -> None:
    """Black out the plan's regions in ``frames`` and store them as new native pixel data
    (Explicit VR Little Endian) in ``ds``. Nothing of the original pixel element survives:
    no codestream markers (JPEG COM/APPn), fragments, offset tables or bytes after the last
    frame, and no bits above Bits Stored (an overlay kept in the high bits).
    """
    source_syntax = UID(ds.file_meta.TransferSyntaxUID)
    samples = frames.shape[3]
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if frames.dtype.kind in "ui":
        bits_stored = int(ds.get("BitsStored", frames.dtype.itemsize * 8) or 8)
        frames = _within_bits_stored(frames, bits_stored)
    fill = frames.max() if photometric == "MONOCHROME1" else (0 if samples == 3 else frames.min())
    for rect in plan.rects:
        frames[:, rect.top : rect.bottom, rect.left : rect.right, :] = fill
    for index, rect in plan.frame_rects:
        frames[index, rect.top : rect.bottom, rect.left : rect.right, :] = fill
    _store_native(ds, frames)
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
    if plan.rects or plan.frame_rects:
        ds.BurnedInAnnotation = "NO"


def remove_icon_images(ds: Dataset) -> int:
    """Remove every Icon Image Sequence (0088,0200), at any depth: a thumbnail of the
    original pixels, text included. Returns how many were removed."""
    removed = 0
    if "IconImageSequence" in ds:
        del ds.IconImageSequence
        removed += 1
    for elem in ds:
        if elem.VR == "SQ" and elem.value:
            for item in elem.value:
                removed += remove_icon_images(item)
    return removed


def _store_native(ds: Dataset, frames: np.ndarray) -> None:
    for keyword in (
        "ExtendedOffsetTable",
        "ExtendedOffsetTableLengths",
        "FloatPixelData",
        "DoubleFloatPixelData",
        "PixelData",
    ):
        if keyword in ds:
            delattr(ds, keyword)
    flat = frames.reshape(-1)
    if flat.dtype.kind == "f":
        keyword, vr = (
            ("FloatPixelData", "OF")
            if flat.dtype.itemsize == 4
            else (
                "DoubleFloatPixelData",
                "OD",
            )
        )
        setattr(ds, keyword, flat.astype(flat.dtype.newbyteorder("<"), copy=False).tobytes())
        ds[keyword].VR = vr
        return
    bits_allocated = int(ds.BitsAllocated)
    if bits_allocated == 1:
        data = pack_bits(flat)
    else:
        data = flat.astype(flat.dtype.newbyteorder("<"), copy=False).tobytes()
    if len(data) % 2:
        data += b"\x00"
    ds.PixelData = data
    ds["PixelData"].VR = "OB" if bits_allocated <= 8 else "OW"
    ds["PixelData"].is_undefined_length = False


def _within_bits_stored(frames: np.ndarray, bits_stored: int) -> np.ndarray:
    """Stored values with every bit above Bits Stored cleared (unsigned) or sign-extended
    from the high bit (signed), as PS3.5 8.1.1 reads them."""
    width = frames.dtype.itemsize * 8
    if bits_stored >= width:
        return frames
    if frames.dtype.kind == "u":
        masked: np.ndarray = frames & np.asarray((1 << bits_stored) - 1, dtype=frames.dtype)
        return masked
    shift = width - bits_stored
    extended: np.ndarray = (frames << shift) >> shift
    return extended


def _clip(left: int, top: int, right: int, bottom: int, *, rows: int, columns: int) -> Rect:
    return Rect(
        left=max(0, min(left, columns)),
        top=max(0, min(top, rows)),
        right=max(0, min(right, columns)),
        bottom=max(0, min(bottom, rows)),
    )
