"""Read PNG and JPEG images through Pillow, with its decompression-bomb guard left on."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.decoded_image import DecodedImage
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.quiet import quiet_warnings
from dicomlens.imaging.sniff import FileKind
from dicomlens.imaging.validation import check_deadline


def read_raster(
    path: Path, kind: FileKind, limits: ImagingLimits, *, max_side: int | None = None
) -> DecodedImage:
    """The first frame of the PNG or JPEG at ``path`` (``kind``), EXIF-oriented for JPEG.

    With ``max_side``, a JPEG more than twice that size is decoded at 1/2, 1/4 or 1/8 scale
    by libjpeg's scaled inverse DCT (Pillow's ``draft``), its long side still at least
    ``max_side``.

    Raises TOO_LARGE, NOT_AN_IMAGE, TRUNCATED_PIXEL_DATA or DECODE_TIMEOUT.
    """
    label: Literal["png", "jpeg"] = "png" if kind is FileKind.PNG else "jpeg"
    start = time.perf_counter()
    try:
        with quiet_warnings(), Image.open(path) as img:
            width, height = img.size
            bands = len(img.getbands())
            if width * height * bands > limits.max_frame_samples:
                raise DicomlensError(
                    ErrorCode.TOO_LARGE,
                    f"a {width}x{height} image exceeds the limit of "
                    f"{limits.max_frame_samples} samples",
                )
            if label == "jpeg" and max_side and max(width, height) >= 2 * max_side:
                scale = max_side / max(width, height)
                img.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
            reduction = max(1, width // img.size[0])
            img.load()
            frame_count = getattr(img, "n_frames", 1)
            oriented = ImageOps.exif_transpose(img) if label == "jpeg" else img
            arr, photometric = _raster_to_array(oriented)
            turned = oriented.size != img.size
            full = (width, height) if turned else (height, width)
    except Image.DecompressionBombError as exc:
        raise DicomlensError(ErrorCode.TOO_LARGE, "the image is a decompression bomb") from exc
    except UnidentifiedImageError as exc:
        raise DicomlensError(ErrorCode.NOT_AN_IMAGE, f"the {label.upper()} cannot be read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DicomlensError(
            ErrorCode.TRUNCATED_PIXEL_DATA, f"the {label.upper()} data is truncated or damaged"
        ) from exc
    elapsed = time.perf_counter() - start
    check_deadline(elapsed, limits)
    return DecodedImage(
        kind=label,
        dataset=None,
        pixels=arr,
        photometric=photometric,
        frame_index=0,
        frame_count=frame_count,
        decode_seconds=elapsed,
        reduction=reduction,
        full_size=full if reduction > 1 else None,
    )


def _raster_to_array(img: Image.Image) -> tuple[np.ndarray, str]:
    """8-bit grayscale or RGB pixels; alpha is composited on black, 16-bit scaled."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr16 = np.asarray(img, dtype=np.uint32)
        top = 65535 if arr16.max(initial=0) > 255 else 255
        return (arr16 * 255 // top).astype(np.uint8), "MONOCHROME2"
    if img.mode in ("1", "L"):
        return np.asarray(img.convert("L")), "MONOCHROME2"
    if img.mode == "LA":
        return np.asarray(img.convert("L")), "MONOCHROME2"
    return np.asarray(img.convert("RGB")), "RGB"
