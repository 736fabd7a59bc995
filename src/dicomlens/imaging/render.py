"""Turn a decoded frame into the 8-bit picture a radiologist's viewer shows.

Grayscale follows the standard display pipeline (PS3.3 C.11, PS3.4 N.2.1): modality LUT
(rescale slope/intercept, or the Modality LUT Sequence) -> VOI (a window with its VOI LUT
Function, or the VOI LUT Sequence; see :mod:`dicomlens.imaging.voi`) -> polarity
(MONOCHROME1 / Presentation LUT Shape, see :func:`is_inverted`) -> 8 bit. Colour images
(RGB, YBR converted while decoding, palette colour) are scaled to 8 bit per channel.
Values of enhanced multi-frame objects come from the frame's functional groups when present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.processing import apply_color_lut
from pydicom.uid import ExplicitVRLittleEndian

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.results import (
    LUT_IGNORED,
    LUT_REPAIRED,
    LUT_SINGLE_ENTRY,
    VALUE_IGNORED,
    Finding,
    WindowUsed,
)
from dicomlens.imaging.decode import DecodedImage
from dicomlens.imaging.lut import Lut, LutReading, read_first_lut
from dicomlens.imaging.voi import (
    AUTOMATIC,
    CT_PRESETS,
    FROM_FILE,
    MIN_MAX,
    Window,
    WindowChoice,
    apply_window,
    first_window,
    min_max_window,
    to_float,
)

__all__ = [
    "AUTOMATIC",
    "CT_PRESETS",
    "FROM_FILE",
    "MIN_MAX",
    "Rendered",
    "Window",
    "WindowChoice",
    "apply_window",
    "frame_attributes",
    "is_inverted",
    "render",
]


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """An 8-bit picture (rows x columns, or rows x columns x 3) and the VOI that made it.

    ``findings`` say where the file's own display attributes could not be followed
    (an unusable LUT was ignored ...), for the user to see.
    """

    pixels: np.ndarray
    window: WindowUsed
    findings: tuple[Finding, ...] = ()


def render(image: DecodedImage, *, window: WindowChoice = FROM_FILE) -> Rendered:
    """The displayed 8-bit picture of ``image``'s decoded frame.

    ``window`` is the one choice of grayscale VOI (see :class:`WindowChoice`): the file's
    own (the default), the automatic window, the full range, or an explicit window or CT
    preset. Colour images ignore it.
    """
    if image.pixels is None:
        raise DicomlensError(ErrorCode.VALIDATION_ERROR, "the file has no image to render")
    photometric = image.photometric or "MONOCHROME2"
    ds = image.dataset
    if photometric == "PALETTE COLOR" and ds is not None:
        return Rendered(pixels=palette_to_rgb8(image.pixels, ds), window=WindowUsed(source="none"))
    if image.pixels.ndim == 3:
        return Rendered(pixels=_colour_to_rgb8(image.pixels, ds), window=WindowUsed(source="none"))
    if ds is None:  # an 8-bit grayscale PNG/JPEG is already display values
        return Rendered(pixels=image.pixels.astype(np.uint8), window=WindowUsed(source="none"))
    return _render_grayscale(image.pixels, ds, image.frame_index or 0, window)


# --------------------------------------------------------------------------- grayscale


@dataclass(frozen=True, kw_only=True)
class _Steps:
    """The grayscale steps that apply to one frame, read once from its attributes."""

    modality_lut: Lut | None
    slope: float
    intercept: float
    file_window: Window | None
    voi_lut: Lut | None
    inverted: bool
    findings: tuple[Finding, ...]


def _render_grayscale(
    stored: np.ndarray, ds: Dataset, frame_index: int, choice: WindowChoice
) -> Rendered:
    not_finite: tuple[Finding, ...] = ()
    if stored.dtype.kind == "f" and not np.isfinite(stored).all():
        stored = np.where(np.isfinite(stored), stored, 0)
        not_finite = (_ignored("float pixel values that are not finite were shown as 0"),)
    lo, hi = (int(stored.min()), int(stored.max())) if stored.size else (0, 0)
    steps = _steps(frame_attributes(ds, frame_index), ds, choice, largest=max(-lo, hi))
    steps = replace(steps, findings=(*not_finite, *steps.findings))
    if stored.dtype.kind in "iub" and hi - lo < _LUT_SPAN:
        # Every step is a function of the stored value alone: evaluate it once per distinct
        # value and index. Same numbers as the per-pixel path, several times faster.
        offsets = stored.astype(np.int64) - lo
        domain = np.arange(lo, hi + 1, dtype=np.int64)
        present = np.bincount(offsets.ravel(), minlength=domain.size) > 0
        lut, used = _display_values(domain, present, steps, ds, choice)
        return Rendered(pixels=lut[offsets], window=used, findings=steps.findings)
    out, used = _display_values(stored, None, steps, ds, choice)
    return Rendered(pixels=out, window=used, findings=steps.findings)


_LUT_SPAN = 1 << 20


def _steps(frame_ds: Dataset, ds: Dataset, choice: WindowChoice, *, largest: float) -> _Steps:
    """The steps for a frame whose stored values are at most ``largest`` in magnitude."""
    findings: list[Finding] = []
    modality = read_first_lut(frame_ds, "ModalityLUTSequence")
    slope, intercept, ignored = _rescale(frame_ds, largest)
    findings += ignored
    rescaled = "RescaleSlope" in frame_ds or "RescaleIntercept" in frame_ds
    fallback = "Rescale Slope/Intercept were" if rescaled else "the stored values were"
    findings += _lut_findings("Modality LUT Sequence", modality, f"{fallback} used instead")
    file_window = first_window(frame_ds) if choice.mode == "file" else None
    if choice.mode == "file" and file_window is None and _has_value(frame_ds, _WINDOW):
        findings.append(
            _ignored(
                "(0028,1050)/(0028,1051) Window Center/Width cannot be used (not a number,"
                " or a width below 1); the next VOI step was used instead"
            )
        )
    voi_lut = None
    if choice.mode == "file" and file_window is None:
        voi = read_first_lut(frame_ds, "VOILUTSequence")
        findings += _lut_findings("VOI LUT Sequence", voi, "the automatic window was used instead")
        voi_lut = voi.lut
    return _Steps(
        modality_lut=modality.lut,
        slope=slope,
        intercept=intercept,
        file_window=file_window,
        voi_lut=voi_lut,
        inverted=is_inverted(ds),
        findings=tuple(findings),
    )


_WINDOW = ("WindowCenter", "WindowWidth")
_RESCALE = ("RescaleSlope", "RescaleIntercept")
# Modality values beyond this are no measurement, and overflow the float32 arithmetic.
_LARGEST_MODALITY_VALUE = 1e30


def _rescale(frame_ds: Dataset, largest: float) -> tuple[float, float, list[Finding]]:
    """Rescale Slope and Intercept (PS3.3 C.11.1.1.2), or 1 and 0 with a finding when they
    cannot be used: not finite numbers, a slope of zero (every pixel one value), or values
    so large that the modality values would overflow."""
    slope = to_float(frame_ds.get("RescaleSlope"), math.nan)
    intercept = to_float(frame_ds.get("RescaleIntercept"), math.nan)
    slope = 1.0 if math.isnan(slope) and not _has_value(frame_ds, ("RescaleSlope",)) else slope
    if math.isnan(intercept) and not _has_value(frame_ds, ("RescaleIntercept",)):
        intercept = 0.0
    usable = math.isfinite(slope) and math.isfinite(intercept) and slope != 0
    if usable and abs(slope) * largest + abs(intercept) <= _LARGEST_MODALITY_VALUE:
        return slope, intercept, []
    return (
        1.0,
        0.0,
        [
            _ignored(
                "(0028,1053)/(0028,1052) Rescale Slope/Intercept cannot be used (not a"
                " number, a slope of zero, or beyond any measurement); the stored values"
                " were used instead"
            )
        ],
    )


def _has_value(ds: Dataset, keywords: tuple[str, ...]) -> bool:
    return any(ds.get(keyword) not in (None, "") for keyword in keywords)


def _ignored(message: str) -> Finding:
    return Finding(kind=VALUE_IGNORED, message=message, source="dicom-tags")


def _lut_findings(name: str, reading: LutReading, fallback: str) -> list[Finding]:
    findings = []
    if reading.single_entry:
        message = (
            f"the {name} holds a single entry, so every pixel maps to one value; it was"
            " applied as DCMTK applies it and the preview is one grey level"
        )
        findings.append(Finding(kind=LUT_SINGLE_ENTRY, message=message, source="dicom-tags"))
    if reading.problem is None:
        return findings
    if reading.lut is None:
        message = f"the {name} {reading.problem}: the LUT was ignored and {fallback}"
        return [Finding(kind=LUT_IGNORED, message=message, source="dicom-tags")]
    message = f"the {name} {reading.problem}"
    return [*findings, Finding(kind=LUT_REPAIRED, message=message, source="dicom-tags")]


def _display_values(
    stored: np.ndarray,
    present: np.ndarray | None,
    steps: _Steps,
    ds: Dataset,
    choice: WindowChoice,
) -> tuple[np.ndarray, WindowUsed]:
    """Stored values -> 8-bit display values. ``present`` marks which entries of ``stored``
    occur in the image (None: all of them), for the automatic window's statistics."""
    values = _modality_values(stored, steps)
    if choice.window is not None:
        used = WindowUsed(
            source="preset" if choice.preset else "file-window",
            center=choice.window.center,
            width=choice.window.width,
            function=choice.window.function,
            preset=choice.preset,
        )
        out = apply_window(values, choice.window)
    elif steps.file_window is not None:
        out = apply_window(values, steps.file_window)
        used = WindowUsed(
            source="file-window",
            center=steps.file_window.center,
            width=steps.file_window.width,
            function=steps.file_window.function,
        )
    elif steps.voi_lut is not None:
        out = _apply_voi_lut(values, steps.voi_lut)
        used = WindowUsed(source="file-voi-lut")
    else:
        out, used = _automatic(values, present, stored, ds, choice)
    if steps.inverted:
        out = 255 - out
    return out, used


def _automatic(
    values: np.ndarray,
    present: np.ndarray | None,
    stored: np.ndarray,
    ds: Dataset,
    choice: WindowChoice,
) -> tuple[np.ndarray, WindowUsed]:
    """The automatic (or, for MIN_MAX, the full-range) window and its 8-bit output."""
    # "min-max" spans every value, padding included, as DCMTK's +Wm does.
    full_range = choice.mode == "min-max"
    padding_free = None if full_range else _not_padding(stored, ds)
    mask = (
        present
        if padding_free is None
        else (padding_free if present is None else present & padding_free)
    )
    auto, adapted = min_max_window(values, mask, ignore_extremes=not full_range)
    used = WindowUsed(
        source="automatic" if adapted or padding_free is not None else "min-max",
        center=auto.center,
        width=auto.width,
        function="LINEAR",
    )
    return apply_window(values, auto), used


def frame_attributes(ds: Dataset, index: int) -> Dataset:
    """A dataset with the pixel-value and VOI attributes that apply to frame ``index``.

    For enhanced multi-frame objects (PS3.3 C.7.6.16) the Pixel Value Transformation and
    Frame VOI LUT macros of the frame's Per-Frame Functional Groups win over the Shared
    Functional Groups, which win over top-level attributes.
    """
    merged = Dataset()
    # LUT data with VR OW is read in the byte order of the file it came from.
    merged.set_original_encoding(*ds.original_encoding[:2])
    if "file_meta" in ds.__dict__ or hasattr(ds, "file_meta"):
        merged.file_meta = ds.file_meta
    for keyword in (
        "RescaleSlope",
        "RescaleIntercept",
        "RescaleType",
        "ModalityLUTSequence",
        "WindowCenter",
        "WindowWidth",
        "VOILUTFunction",
        "VOILUTSequence",
        "BitsStored",
        "BitsAllocated",
        "PixelRepresentation",
        "PhotometricInterpretation",
    ):
        if keyword in ds:
            merged[keyword] = ds[keyword]
    for groups_keyword, pick in (
        ("SharedFunctionalGroupsSequence", 0),
        ("PerFrameFunctionalGroupsSequence", index),
    ):
        groups = ds.get(groups_keyword)
        if not groups or pick >= len(groups):
            continue
        item = groups[pick]
        for macro in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
            seq = item.get(macro)
            if seq:
                for element in seq[0]:
                    merged[element.tag] = element
    return merged


def modality_values(stored: np.ndarray, frame_ds: Dataset) -> np.ndarray:
    """Stored values -> modality values (PS3.3 C.11.1) for the frame whose attributes are
    ``frame_ds`` (see :func:`frame_attributes`): the usable Modality LUT, else rescale.

    The same step :func:`render` takes; de-identification builds its own renderings on it.
    """
    largest = max(-float(stored.min()), float(stored.max())) if stored.size else 0.0
    return _modality_values(stored, _steps(frame_ds, frame_ds, MIN_MAX, largest=largest))


def _modality_values(stored: np.ndarray, steps: _Steps) -> np.ndarray:
    """Stored values -> modality values (PS3.3 C.11.1): the Modality LUT, else rescale."""
    if steps.modality_lut is not None:
        return steps.modality_lut(stored).astype(np.float64)
    values: np.ndarray = stored.astype(np.float32 if stored.dtype.itemsize <= 2 else np.float64)
    if steps.slope != 1.0:
        values = values * steps.slope
    if steps.intercept != 0.0:
        values = values + steps.intercept
    return values


def _not_padding(stored: np.ndarray, ds: Dataset) -> np.ndarray | None:
    """Pixels that are not padding (PS3.3 C.7.5.1.1.2), or None when nothing is padding."""
    pad = ds.get("PixelPaddingValue")
    if pad is None:
        return None
    pad_value = int(pad[0] if isinstance(pad, list | tuple) else pad)
    limit = ds.get("PixelPaddingRangeLimit")
    if limit is None:
        return np.asarray(stored != pad_value)
    lo, hi = sorted((pad_value, int(limit)))
    return np.asarray((stored < lo) | (stored > hi))


def _apply_voi_lut(values: np.ndarray, lut: Lut) -> np.ndarray:
    """Modality values -> 8 bit through a VOI LUT (PS3.3 C.11.2.1.1)."""
    top = float(2**lut.bits - 1)
    scaled = np.rint(lut(values).astype(np.float64) * 255.0 / top)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def is_inverted(ds: Dataset) -> bool:
    """Whether the grayscale output is inverted: minimum shown white, maximum black.

    The rule, the same as DCMTK's: Presentation LUT Shape (2050,0020), when it is IDENTITY
    or INVERSE, decides; otherwise MONOCHROME1 inverts and MONOCHROME2 does not. An image
    is never inverted twice.

    - MONOCHROME1 means that the minimum value is shown white after the VOI
      transformation (PS3.3 C.7.6.3.1.2): one inversion.
    - In an image, Presentation LUT Shape restates the photometric interpretation: the
      General Image Module (PS3.3 C.7.6.1) and the DX, MG and IO image modules (C.8.11)
      require INVERSE ("output after inversion is in P-Values") exactly when Photometric
      Interpretation is MONOCHROME1, and IDENTITY otherwise. So INVERSE on a MONOCHROME1
      image is the inversion MONOCHROME1 asks for, not a second one.
    - When the two disagree (IDENTITY on MONOCHROME1, INVERSE on MONOCHROME2) the shape
      wins, as it does in a presentation state, whose grayscale pipeline overrides the
      image's Photometric Interpretation (PS3.3 C.11.6, PS3.4 N.2.1.4 note 1). DCMTK and
      dcm4che render these images the same way.
    - Other values (LIN OD is for printers, C.11.4) are ignored, as DCMTK does.
    """
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    if shape in ("INVERSE", "IDENTITY"):
        return shape == "INVERSE"
    return str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1"


# --------------------------------------------------------------------------- colour


def _colour_to_rgb8(arr: np.ndarray, ds: Dataset | None) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    bits = int(ds.get("BitsStored", arr.dtype.itemsize * 8)) if ds is not None else 8
    top = float(2**bits - 1)
    return np.clip(np.rint(arr.astype(np.float64) * 255.0 / top), 0, 255).astype(np.uint8)


_PALETTE_DATA = (
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
)


def palette_to_rgb8(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    """PS3.3 C.7.6.3.1.5/6: index through the (possibly segmented) palette, keep the top 8 bits."""
    for colour in ("Red", "Green", "Blue"):
        descriptor = ds.get(f"{colour}PaletteColorLookupTableDescriptor")
        has_data = (
            f"{colour}PaletteColorLookupTableData" in ds
            or f"Segmented{colour}PaletteColorLookupTableData" in ds
        )
        if not has_data or descriptor is None or len(descriptor) != 3:
            raise DicomlensError(
                ErrorCode.INVALID_DICOM, f"the {colour.lower()} palette is missing or malformed"
            )
    try:
        rgb = np.asarray(apply_color_lut(arr, _little_endian_palette(ds)))
    except (ValueError, IndexError, TypeError, KeyError, AttributeError) as exc:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, f"the palette cannot be applied ({type(exc).__name__})"
        ) from exc
    bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    if bits == 8 and rgb.max(initial=0) <= 255:
        return rgb.astype(np.uint8)
    return (rgb.astype(np.uint32) >> 8).astype(np.uint8)


def _little_endian_palette(ds: Dataset) -> Dataset:
    """A copy of the palette attributes with OW LUT data in little-endian byte order.

    pydicom reads LUT data as little endian whatever the file's encoding; a big-endian file
    stores its 16-bit words swapped.
    """
    if ds.original_encoding[1] is not False:
        return ds
    copy = Dataset()
    copy.file_meta = FileMetaDataset()
    copy.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for element in ds:
        if element.keyword in _PALETTE_DATA and element.VR == "OW" and element.value:
            words = np.frombuffer(element.value, dtype=">u2").astype("<u2")
            copy.add_new(element.tag, "OW", words.tobytes())
        else:
            copy[element.tag] = element
    return copy
