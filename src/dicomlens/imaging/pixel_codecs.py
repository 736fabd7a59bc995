"""Decode one frame through pydicom's decoder plugins (compressed, and the native rest).

The plugin is checked before any pixel is read (:func:`require_codec`), so a missing
codec is UNSUPPORTED_TRANSFER_SYNTAX and not a decoding failure; whatever a plugin raises
while decoding is INVALID_DICOM.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import pixel_array
from pydicom.uid import UID

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.quiet import quiet_warnings

_IJG_SYNTAXES = {UID("1.2.840.10008.1.2.4.50"), UID("1.2.840.10008.1.2.4.51")}


def require_codec(tsyntax: UID) -> None:
    """Raise UNSUPPORTED_TRANSFER_SYNTAX unless an installed plugin decodes ``tsyntax``."""
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as exc:
        name = tsyntax.name if tsyntax.is_valid else tsyntax
        raise DicomlensError(
            ErrorCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"no decoder exists for the transfer syntax {name} ({tsyntax})",
        ) from exc
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)
        raise DicomlensError(
            ErrorCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"the transfer syntax {tsyntax.name} needs a codec that is not installed ({missing})",
        )


def decode_frame(src: BinaryIO | Dataset, tsyntax: UID, index: int) -> np.ndarray:
    """Frame ``index`` of ``src`` (a file positioned at its dataset, or a parsed dataset)."""
    kwargs: dict[str, Any] = {"index": index}
    if not isinstance(src, Dataset):
        kwargs["transfer_syntax_uid"] = tsyntax
    try:
        with quiet_warnings():
            if tsyntax in _IJG_SYNTAXES:
                # Pillow's libjpeg(-turbo) decodes lossy JPEG exactly as DCMTK's IJG code
                # does (same IDCT and chroma upsampling); pylibjpeg differs by a few levels.
                try:
                    return np.asarray(pixel_array(src, decoding_plugin="pillow", **kwargs))
                except (RuntimeError, ValueError):
                    if not isinstance(src, Dataset):
                        src.seek(0)
            return np.asarray(pixel_array(src, **kwargs))
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # a Rust codec's panic (pyo3) is a BaseException
        # pylibjpeg-rle panics on some malformed RLE segments; whatever a codec raises while
        # decoding this frame means its data cannot be decoded.
        raise DicomlensError(
            ErrorCode.INVALID_DICOM,
            f"the {tsyntax.name} pixel data cannot be decoded ({type(exc).__name__})",
        ) from exc
