"""WADO-RS rendered and thumbnail images (PS3.18 8.3.5, 10.4.1.1.3, 8.7.4).

Pictures come from the project's own pipeline: :func:`~dicomlens.imaging.decode.read_image`
under the limits, then :func:`~dicomlens.imaging.render.render` (modality LUT, VOI window or
LUT, MONOCHROME1 inversion, palette), exactly as the job previews are made. Then, per
8.3.5.1: the source region (``viewport``'s sx,sy,sw,sh: |sw| x |sh| from sx,sy; a negative sw
or sh flips it), scaled to fit
the viewport (vw,vh) keeping its aspect ratio, then encoded.

Choices:
- Media types (Table 8.7.4-1, single-frame images): ``image/jpeg`` (default), ``image/png``,
  ``image/gif``. A multi-frame instance rendered as one of these gives one frame: the
  first for ``/rendered``, the preview's (middle) frame for ``/thumbnail``.
- No ``window``: the file's own window, as the preview. ``window=c,w[,function]`` with
  ``linear`` (default), ``linear-exact`` or ``sigmoid``; colour images ignore it.
- No ``viewport``: the full source size, one pixel per stored pixel. vw and vh are at most
  :data:`MAX_VIEWPORT`; beyond is VALIDATION_ERROR (PS3.18: unsupported -> 400).
- ``quality`` 1-100 sets the JPEG quality (default 90); other media types ignore it.
- ``annotation`` (``patient``, ``technique``) is accepted and ignored: nothing is burned
  in (8.3.5 lets the origin server not support a parameter); other values are refused.
- Thumbnail: the preview's frame and size rule (long side 256, square display pixels)
  unless a viewport is given.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dicomlens.dicomweb.frames import frame_layout
from dicomlens.dicomweb.negotiation import MediaOffer
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.decode import DecodedImage, read_image
from dicomlens.imaging.limits import PNG_COMPRESS_LEVEL, ImagingLimits
from dicomlens.imaging.output import THUMBNAIL_MAX, display_size, picture
from dicomlens.imaging.render import FROM_FILE, Window, WindowChoice, render

JPEG = "image/jpeg"
PNG = "image/png"
GIF = "image/gif"
RENDERED_MEDIA_TYPES = (JPEG, PNG, GIF)
MAX_VIEWPORT = 4096
DEFAULT_QUALITY = 90
# The rendition a request without parameters gets (frame 1, the file's window, JPEG at
# DEFAULT_QUALITY), computed once when an instance is processed and kept beside its job's
# other derived images.
DEFAULT_RENDITION_NAME = "dicomweb-rendered-1.jpg"
_FUNCTIONS = {"linear": "LINEAR", "linear-exact": "LINEAR_EXACT", "sigmoid": "SIGMOID"}
_ANNOTATIONS = frozenset({"patient", "technique"})


@dataclass(frozen=True, kw_only=True)
class Viewport:
    """PS3.18 8.3.5.1.3: the viewport (``width`` x ``height``, either may be None: then
    derived from the other) and the source region (``sx``, ``sy``, ``sw``, ``sh``; None
    width/height run to the image's edge, negative ones flip)."""

    width: int | None
    height: int | None
    sx: int = 0
    sy: int = 0
    sw: int | None = None
    sh: int | None = None


@dataclass(frozen=True, kw_only=True)
class RenderParams:
    """The rendering query parameters of one request."""

    window: Window | None = None
    viewport: Viewport | None = None
    quality: int | None = None
    annotation: tuple[str, ...] = ()


def is_default(params: RenderParams) -> bool:
    """Whether ``params`` ask for nothing but the default rendering."""
    return params == RenderParams()


def rendered_offers() -> list[MediaOffer]:
    """What ``/rendered`` and ``/thumbnail`` answer, JPEG (the default) first."""
    return [MediaOffer(media_type=media) for media in RENDERED_MEDIA_TYPES]


def parse_render_params(query: Mapping[str, str | Sequence[str]]) -> RenderParams:
    """``window``, ``viewport``, ``quality`` and ``annotation`` from a query (a repeated
    key uses its first value); other keys are left to others. VALIDATION_ERROR for a
    malformed value."""

    def first(name: str) -> str | None:
        value = query.get(name)
        if value is None or isinstance(value, str):
            return value
        return value[0] if value else None

    window = first("window")
    viewport = first("viewport")
    quality = first("quality")
    annotation = first("annotation")
    return RenderParams(
        window=parse_window(window) if window is not None else None,
        viewport=parse_viewport(viewport) if viewport is not None else None,
        quality=_quality(quality) if quality is not None else None,
        annotation=_annotation(annotation) if annotation is not None else (),
    )


def parse_window(value: str) -> Window:
    """``center,width[,function]`` (PS3.18 8.3.5.1.4): numbers, a positive width (at least
    1 for ``linear``, PS3.3 C.11.2.1.2.1), function ``linear``/``linear-exact``/``sigmoid``."""
    pieces = [piece.strip() for piece in value.split(",")]
    if len(pieces) not in (2, 3):
        raise _invalid("window is center,width,function")
    function = _FUNCTIONS.get(pieces[2].lower() if len(pieces) == 3 else "linear")
    center, width = _number(pieces[0], "window center"), _number(pieces[1], "window width")
    if function is None:
        raise _invalid("the window function is linear, linear-exact or sigmoid")
    if width <= 0 or (function == "LINEAR" and width < 1):
        raise _invalid("the window width must be positive (at least 1 for linear)")
    return Window(center=center, width=width, function=function)


def parse_viewport(value: str) -> Viewport:
    """``vw,vh`` or ``vw,vh,sx,sy,sw,sh`` (PS3.18 8.3.5.1.3); vw or vh may be empty,
    sw/sh may be empty or negative. VALIDATION_ERROR beyond :data:`MAX_VIEWPORT`."""
    pieces = [piece.strip() for piece in value.split(",")]
    if len(pieces) not in (2, 6):
        raise _invalid("viewport is vw,vh or vw,vh,sx,sy,sw,sh")
    width, height = (_size(piece) for piece in pieces[:2])
    if width is None and height is None:
        raise _invalid("the viewport needs a width or a height")
    if len(pieces) == 2:
        return Viewport(width=width, height=height)
    sx, sy = (_integer(piece or "0", "viewport offset") for piece in pieces[2:4])
    sw, sh = (_integer(piece, "viewport region") if piece else None for piece in pieces[4:6])
    if sx < 0 or sy < 0 or sw == 0 or sh == 0:
        raise _invalid("the viewport region must have a non-negative offset and a size")
    return Viewport(width=width, height=height, sx=sx, sy=sy, sw=sw, sh=sh)


def render_frame(
    path: Path, *, frame: int, params: RenderParams, media_type: str, limits: ImagingLimits
) -> bytes:
    """Frame ``frame`` (1-based) of the DICOM file at ``path`` rendered as ``media_type``.

    Raises NOT_FOUND for a frame the file lacks, NOT_ACCEPTABLE for a media type other
    than :data:`RENDERED_MEDIA_TYPES`, VALIDATION_ERROR for a region outside the image,
    and the reader's errors.
    """
    _check_media_type(media_type)
    if frame != 1:  # frame 1 exists whenever there are pixels: no second parse for it
        count = frame_layout(path, limits).frame_count
        if not 1 <= frame <= count:
            raise DicomlensError(
                ErrorCode.NOT_FOUND, f"frame {frame} does not exist (the instance has {count})"
            )
    side = _whole_frame_side(params.viewport)
    image, pixels = _rendered_pixels(path, frame - 1, params.window, limits, max_side=side)
    if side is not None:  # the whole frame, fitted: sized from its full size
        rows, columns = image.frame_size
        size = _fitted_size(rows, columns, params.viewport)
        return encode_picture(pixels, size=size, media_type=media_type, quality=params.quality)
    region = _region(pixels, params.viewport)
    size = _fitted(region, params.viewport)
    return encode_picture(region, size=size, media_type=media_type, quality=params.quality)


def _whole_frame_side(viewport: Viewport | None) -> int | None:
    """The long side a frame may be decoded at for ``viewport``: the larger viewport size,
    when the viewport gives both sizes and no source region (the picture then fits in it);
    None (full resolution) otherwise."""
    if viewport is None or viewport.width is None or viewport.height is None:
        return None
    if (viewport.sx, viewport.sy, viewport.sw, viewport.sh) != (0, 0, None, None):
        return None
    return max(viewport.width, viewport.height)


def thumbnail(
    path: Path,
    *,
    media_type: str,
    limits: ImagingLimits,
    viewport: Viewport | None = None,
    size: int = THUMBNAIL_MAX,
) -> bytes:
    """A small picture of the instance: the preview's frame, windowed as the preview, its
    long side ``size`` with square display pixels, or fitted to ``viewport``."""
    _check_media_type(media_type)
    frame_layout(path, limits)  # NOT_FOUND without pixel data
    # A viewport may crop a region in the frame's own pixel coordinates: full resolution.
    image = read_image(path, limits=limits, max_side=size if viewport is None else None)
    pixels = render(image, window=FROM_FILE).pixels
    if viewport is not None:
        region = _region(pixels, viewport)
        return encode_picture(region, size=_fitted(region, viewport), media_type=media_type)
    rows, columns = image.frame_size
    aspect = _aspect(image.dataset)
    fitted = display_size(rows, columns, aspect, size)
    return encode_picture(pixels, size=fitted, media_type=media_type)


def encode_picture(
    pixels: np.ndarray, *, size: tuple[int, int], media_type: str, quality: int | None = None
) -> bytes:
    """An 8-bit picture resized to ``size`` (width, height; Lanczos when shrinking, as the
    previews) and encoded as ``media_type``."""
    img = picture(pixels, size)
    buffer = io.BytesIO()
    if media_type == PNG:
        img.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    elif media_type == GIF:
        img.save(buffer, format="GIF")
    else:
        img.save(buffer, format="JPEG", quality=quality or DEFAULT_QUALITY)
    return buffer.getvalue()


def _rendered_pixels(
    path: Path,
    index: int,
    window: Window | None,
    limits: ImagingLimits,
    *,
    max_side: int | None = None,
) -> tuple[DecodedImage, np.ndarray]:
    image = read_image(path, limits=limits, frame=index, max_side=max_side)
    if image.pixels is None:
        raise DicomlensError(ErrorCode.NOT_FOUND, "the instance has no pixel data")
    choice = WindowChoice.of_window(window) if window is not None else FROM_FILE
    return image, render(image, window=choice).pixels


def _region(pixels: np.ndarray, viewport: Viewport | None) -> np.ndarray:
    if viewport is None:
        return pixels
    rows, columns = pixels.shape[:2]
    sx, sy = viewport.sx, viewport.sy
    sw = viewport.sw if viewport.sw is not None else columns - sx
    sh = viewport.sh if viewport.sh is not None else rows - sy
    x0, x1 = sx, sx + abs(sw)
    y0, y1 = sy, sy + abs(sh)
    if x0 < 0 or y0 < 0 or x1 > columns or y1 > rows or x0 == x1 or y0 == y1:
        raise _invalid(f"the viewport region lies outside the {columns}x{rows} image")
    region = pixels[y0:y1, x0:x1]
    if sw < 0:
        region = region[:, ::-1]
    if sh < 0:
        region = region[::-1]
    return region


def _fitted(region: np.ndarray, viewport: Viewport | None) -> tuple[int, int]:
    """(width, height) of ``region`` scaled to fit ``viewport``, aspect ratio kept."""
    rows, columns = region.shape[:2]
    return _fitted_size(rows, columns, viewport)


def _fitted_size(rows: int, columns: int, viewport: Viewport | None) -> tuple[int, int]:
    """(width, height) of a ``rows`` x ``columns`` picture scaled to fit ``viewport``."""
    if viewport is None:
        return columns, rows
    scales = []
    if viewport.width is not None:
        scales.append(viewport.width / columns)
    if viewport.height is not None:
        scales.append(viewport.height / rows)
    scale = min(scales)
    width = min(MAX_VIEWPORT, max(1, round(columns * scale)))
    height = min(MAX_VIEWPORT, max(1, round(rows * scale)))
    return width, height


def _aspect(ds: object) -> tuple[float, float]:
    """(vertical, horizontal) pixel size from Pixel Aspect Ratio or Pixel Spacing."""
    for keyword in ("PixelAspectRatio", "PixelSpacing"):
        value = getattr(ds, keyword, None) if ds is not None else None
        try:
            if value is not None and len(value) == 2 and float(value[0]) > 0 < float(value[1]):
                return float(value[0]), float(value[1])
        except (TypeError, ValueError):
            continue
    return (1.0, 1.0)


def _check_media_type(media_type: str) -> None:
    if media_type not in RENDERED_MEDIA_TYPES:
        raise DicomlensError(
            ErrorCode.NOT_ACCEPTABLE,
            f"rendered images are {', '.join(RENDERED_MEDIA_TYPES)}, not {media_type[:64]}",
        )


def _quality(value: str) -> int:
    quality = _integer(value, "quality")
    if not 1 <= quality <= 100:
        raise _invalid("quality is an integer from 1 to 100")
    return quality


def _annotation(value: str) -> tuple[str, ...]:
    names = tuple(name.strip().lower() for name in value.split(",") if name.strip())
    if not names or any(name not in _ANNOTATIONS for name in names):
        raise _invalid("annotation is patient, technique or both")
    return names


def _size(piece: str) -> int | None:
    if not piece:
        return None
    size = _integer(piece, "viewport size")
    if not 1 <= size <= MAX_VIEWPORT:
        raise _invalid(f"viewport sizes are 1 to {MAX_VIEWPORT} pixels")
    return size


def _integer(piece: str, what: str) -> int:
    text = piece.strip()
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 9:
        raise _invalid(f"the {what} must be an integer")
    return int(text)


def _number(piece: str, what: str) -> float:
    try:
        value = float(piece)
    except ValueError:
        raise _invalid(f"the {what} must be a number") from None
    if not np.isfinite(value) or abs(value) > 1e9 or piece.strip().lower() in ("nan", "inf"):
        raise _invalid(f"the {what} must be a finite number")
    return value


def _invalid(message: str) -> DicomlensError:
    return DicomlensError(ErrorCode.VALIDATION_ERROR, message)
