"""Turn a decoded frame into the 8-bit picture a radiologist's viewer shows.

Grayscale follows the standard display pipeline (PS3.3 C.11, PS3.4 N.2.1): modality LUT
(rescale slope/intercept, or the Modality LUT Sequence) -> VOI (a window with its VOI LUT
Function, or the VOI LUT Sequence) -> MONOCHROME1 / Presentation LUT Shape inversion ->
8 bit. Colour images (RGB, YBR converted while decoding, palette colour) are scaled to
8 bit per channel. Values of enhanced multi-frame objects come from the frame's
functional groups when present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_color_lut
from pydicom.uid import ExplicitVRLittleEndian

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.results import WindowUsed
from dicomlens.imaging.decode import DecodedImage

VoiMode = Literal["file", "auto", "min-max"]

CT_PRESETS: dict[str, tuple[float, float]] = {
    "soft-tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (300.0, 1500.0),
    "brain": (40.0, 80.0),
}


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """An 8-bit picture (rows x columns, or rows x columns x 3) and the VOI that made it."""

    pixels: np.ndarray
    window: WindowUsed


@dataclass(frozen=True, kw_only=True)
class Window:
    """A VOI window, PS3.3 C.11.2.1.2."""

    center: float
    width: float
    function: str = "LINEAR"


def render(
    image: DecodedImage,
    *,
    voi: VoiMode = "file",
    window: Window | None = None,
    preset: str | None = None,
) -> Rendered:
    """The displayed 8-bit picture of ``image``'s decoded frame.

    ``voi`` picks the grayscale VOI: ``"file"`` uses the first window of the file (or of the
    frame's functional groups), else its VOI LUT Sequence, else the automatic window;
    ``"auto"`` ignores padding values and the extreme values (like DCMTK ``+Wn``);
    ``"min-max"`` spans the full range (DCMTK ``+Wm``). An explicit ``window`` (or a named
    CT ``preset``) overrides all of these.
    """
    if image.pixels is None:
        raise DicomlensError(ErrorCode.VALIDATION_ERROR, "the file has no image to render")
    if preset is not None:
        if preset not in CT_PRESETS:
            raise DicomlensError(ErrorCode.VALIDATION_ERROR, f"unknown window preset {preset!r}")
        center, width = CT_PRESETS[preset]
        window = Window(center=center, width=width)
    photometric = image.photometric or "MONOCHROME2"
    ds = image.dataset
    if photometric == "PALETTE COLOR" and ds is not None:
        return Rendered(pixels=_palette_to_rgb8(image.pixels, ds), window=WindowUsed(source="none"))
    if image.pixels.ndim == 3:
        return Rendered(pixels=_colour_to_rgb8(image.pixels, ds), window=WindowUsed(source="none"))
    if ds is None:  # an 8-bit grayscale PNG/JPEG is already display values
        return Rendered(pixels=image.pixels.astype(np.uint8), window=WindowUsed(source="none"))
    return _render_grayscale(image, ds, voi=voi, window=window, preset=preset)


# --------------------------------------------------------------------------- grayscale


def _render_grayscale(
    image: DecodedImage, ds: Dataset, *, voi: VoiMode, window: Window | None, preset: str | None
) -> Rendered:
    stored = image.pixels
    if stored is None:
        raise DicomlensError(ErrorCode.VALIDATION_ERROR, "the file has no image to render")
    frame_ds = frame_attributes(ds, image.frame_index or 0)
    lo, hi = (int(stored.min()), int(stored.max())) if stored.size else (0, 0)
    if stored.dtype.kind in "iub" and hi - lo < _LUT_SPAN:
        # Every step is a function of the stored value alone: evaluate it once per distinct
        # value and index. Same numbers as the per-pixel path, several times faster.
        offsets = stored.astype(np.int64) - lo
        domain = np.arange(lo, hi + 1, dtype=np.int64)
        present = np.bincount(offsets.ravel(), minlength=domain.size) > 0
        lut, used = _display_values(
            domain, present, frame_ds, ds, voi=voi, window=window, preset=preset
        )
        return Rendered(pixels=lut[offsets], window=used)
    out, used = _display_values(stored, None, frame_ds, ds, voi=voi, window=window, preset=preset)
    return Rendered(pixels=out, window=used)


_LUT_SPAN = 1 << 20


def _display_values(
    stored: np.ndarray,
    present: np.ndarray | None,
    frame_ds: Dataset,
    ds: Dataset,
    *,
    voi: VoiMode,
    window: Window | None,
    preset: str | None,
) -> tuple[np.ndarray, WindowUsed]:
    """Stored values -> 8-bit display values. ``present`` marks which entries of ``stored``
    occur in the image (None: all of them), for the automatic window's statistics."""
    values = modality_values(stored, frame_ds)
    if window is not None:
        used = WindowUsed(
            source="preset" if preset else "file-window",
            center=window.center,
            width=window.width,
            function=window.function,
            preset=preset,
        )
        out = apply_window(values, window)
    elif voi == "file" and (file_window := first_window(frame_ds)) is not None:
        out = apply_window(values, file_window)
        used = WindowUsed(
            source="file-window",
            center=file_window.center,
            width=file_window.width,
            function=file_window.function,
        )
    elif voi == "file" and "VOILUTSequence" in frame_ds:
        out = _apply_voi_lut_sequence(values, frame_ds)
        used = WindowUsed(source="file-voi-lut")
    else:
        # "min-max" spans every value, padding included, as DCMTK's +Wm does.
        padding_free = None if voi == "min-max" else _not_padding(stored, ds)
        mask = (
            present
            if padding_free is None
            else (padding_free if present is None else present & padding_free)
        )
        auto, trimmed = min_max_window(values, mask, ignore_extremes=voi != "min-max")
        out = apply_window(values, auto)
        used = WindowUsed(
            source="automatic" if trimmed or padding_free is not None else "min-max",
            center=auto.center,
            width=auto.width,
            function="LINEAR",
        )
    if _is_inverted(ds):
        out = 255 - out
    return out, used


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


def modality_values(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """Stored values -> modality values (PS3.3 C.11.1): rescale or the Modality LUT Sequence."""
    if "ModalityLUTSequence" in ds:
        return _read_lut(ds.ModalityLUTSequence[0], ds)(stored).astype(np.float64)
    slope = _float(ds.get("RescaleSlope"), 1.0)
    intercept = _float(ds.get("RescaleIntercept"), 0.0)
    values: np.ndarray = stored.astype(np.float32 if stored.dtype.itemsize <= 2 else np.float64)
    if slope != 1.0:
        values = values * slope
    if intercept != 0.0:
        values = values + intercept
    return values


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

    Returns the window and whether the extreme values were left out.

    With ``ignore_extremes`` the smallest and largest distinct values are left out, as
    DCMTK's "min-max window ignoring extreme values" does, unless the image is binary (a
    segmentation) or that leaves nothing.
    """
    data = values[mask] if mask is not None else values.ravel()
    if data.size == 0:
        data = values.ravel()
    lo, hi = float(data.min()), float(data.max())
    trimmed = False
    if ignore_extremes and hi > lo:
        inner = data[(data > lo) & (data < hi)]
        if inner.size and float(inner.max()) > float(inner.min()):
            lo, hi, trimmed = float(inner.min()), float(inner.max()), True
    # DCMTK's convention: the window maps [lo, hi] exactly onto [0, 255].
    return Window(center=(lo + hi + 1) / 2, width=hi - lo + 1), trimmed


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


@dataclass(frozen=True)
class _Lut:
    """A LUT of PS3.3 C.11.1 / C.11.2.1.1: ``data[v - first]``, clamped at both ends."""

    first: int
    bits: int
    data: np.ndarray

    def __call__(self, values: np.ndarray) -> np.ndarray:
        index = np.clip(np.rint(values) - self.first, 0, self.data.size - 1).astype(np.intp)
        return np.asarray(self.data[index])


def _read_lut(item: Dataset, ds: Dataset) -> _Lut:
    """The LUT of a Modality or VOI LUT Sequence item.

    The descriptor's first mapped value is signed when the pixel data is (its VR, US or
    SS, may not be in the file); LUT Data in OW is in the file's byte order; 8-bit
    entries packed two per word (an old ACR-NEMA habit) are unpacked.
    """
    descriptor = item.get("LUTDescriptor")
    raw = item.get("LUTData")
    values = list(descriptor) if isinstance(descriptor, MultiValue | list | tuple) else [descriptor]
    if len(values) != 3 or raw is None or len(raw) == 0:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, "a LUT needs a three-valued LUT Descriptor and LUT Data"
        )
    entries, first, bits = (int(v) for v in values)
    entries = entries or 65536
    if first > 32767 and int(ds.get("PixelRepresentation", 0)) == 1:
        first -= 65536
    if isinstance(raw, bytes):
        little = ds.original_encoding[1] is not False
        even = raw[: len(raw) // 2 * 2]
        data = np.frombuffer(even, dtype="<u2" if little else ">u2").astype(np.int64)
    else:
        data = np.asarray(raw if isinstance(raw, list | tuple) else [raw], dtype=np.int64)
    if bits == 8 and data.size * 2 == entries:
        data = np.frombuffer(data.astype("<u2").tobytes(), dtype=np.uint8).astype(np.int64)
    return _Lut(first=first, bits=bits or 16, data=data[:entries])


def _apply_voi_lut_sequence(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """Modality values -> 8 bit through the first VOI LUT (PS3.3 C.11.2.1.1)."""
    lut = _read_lut(ds.VOILUTSequence[0], ds)
    top = float(2**lut.bits - 1)
    scaled = np.rint(lut(values).astype(np.float64) * 255.0 / top)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _is_inverted(ds: Dataset) -> bool:
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if shape == "INVERSE":
        return photometric != "MONOCHROME1"
    if shape == "IDENTITY":
        return False
    return photometric == "MONOCHROME1"


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


def _palette_to_rgb8(arr: np.ndarray, ds: Dataset) -> np.ndarray:
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


# --------------------------------------------------------------------------- helpers


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
        number = _float(item, math.nan)
        if not math.isnan(number):
            out.append(number)
    return out


def _float(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default
