"""Decode one frame through pydicom's decoder plugins (compressed, and the native rest).

The plugin is checked before any pixel is read (:func:`require_codec`), so a missing
codec is UNSUPPORTED_TRANSFER_SYNTAX and not a decoding failure; whatever a plugin raises
while decoding is INVALID_DICOM.

Every JPEG transfer syntax of PS3.6 carries an ISO 10918-1 codestream. pydicom registers
decoders for four of them only; the retired ones (processes 3-13 and the hierarchical
processes 16-29) are decoded by the decoder of the current syntax with the same kind of
codestream (:func:`codec_syntax`), whose plugins (Pillow, pylibjpeg-libjpeg) decode any
process they support and say so when they do not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import as_pixel_options, pixel_array
from pydicom.uid import UID, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.quiet import quiet_warnings

_IJG_SYNTAXES = {JPEGBaseline8Bit, JPEGExtended12Bit}

# PS3.6 Table A-1: the retired JPEG syntaxes, by the kind of codestream they carry.
_RETIRED_JPEG_LOSSY = frozenset(
    UID(f"1.2.840.10008.1.2.4.{n}") for n in (52, 53, 54, 55, 56, 59, 60, 61, 62, 63, 64)
)
_RETIRED_JPEG_LOSSLESS = frozenset(UID(f"1.2.840.10008.1.2.4.{n}") for n in (58, 65, 66))
JPEG_SYNTAXES = frozenset(
    {
        JPEGBaseline8Bit,
        JPEGExtended12Bit,
        JPEGLossless,
        UID("1.2.840.10008.1.2.4.70"),
        *_RETIRED_JPEG_LOSSY,
        *_RETIRED_JPEG_LOSSLESS,
    }
)
"""Every transfer syntax whose frames are ISO 10918-1 (JPEG) codestreams."""


def codec_syntax(tsyntax: UID) -> UID:
    """The transfer syntax whose pydicom decoder decodes ``tsyntax``'s frames.

    ``tsyntax`` itself, except for a retired JPEG syntax: JPEG Extended for the DCT-based
    processes, JPEG Lossless for the lossless ones. Their decoders hand the codestream to
    plugins that read the process from the codestream's frame header, not from the UID.
    """
    if tsyntax in _RETIRED_JPEG_LOSSY:
        return JPEGExtended12Bit
    if tsyntax in _RETIRED_JPEG_LOSSLESS:
        return JPEGLossless
    return tsyntax


def require_codec(tsyntax: UID) -> None:
    """Raise UNSUPPORTED_TRANSFER_SYNTAX unless an installed plugin decodes ``tsyntax``."""
    name = tsyntax.name if tsyntax.is_valid else tsyntax
    try:
        decoder = get_decoder(codec_syntax(tsyntax))
    except NotImplementedError as exc:
        raise DicomlensError(
            ErrorCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"no decoder exists for the transfer syntax {name} ({tsyntax})",
        ) from exc
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)
        raise DicomlensError(
            ErrorCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"the transfer syntax {name} needs a codec that is not installed ({missing})",
        )


def decode_frame(src: BinaryIO | Dataset, tsyntax: UID, index: int) -> np.ndarray:
    """Frame ``index`` of ``src`` (a file positioned at its dataset, or a parsed dataset).

    ``tsyntax`` is the file's transfer syntax as the file meta states it, whatever a
    parsed dataset's own file meta says.
    """
    codec = codec_syntax(tsyntax)
    kwargs: dict[str, Any] = {"index": index}
    if isinstance(src, Dataset):
        src = _with_transfer_syntax(src, codec)
    else:
        kwargs["transfer_syntax_uid"] = codec
    with _decoding(tsyntax):
        if codec in _IJG_SYNTAXES:
            # Pillow's libjpeg(-turbo) decodes lossy JPEG exactly as DCMTK's IJG code
            # does (same IDCT and chroma upsampling); pylibjpeg differs by a few levels.
            try:
                return np.asarray(pixel_array(src, decoding_plugin="pillow", **kwargs))
            except (RuntimeError, ValueError):
                if not isinstance(src, Dataset):
                    src.seek(0)
        return np.asarray(pixel_array(src, **kwargs))


def decode_codestream(codestream: bytes, ds: Dataset, tsyntax: UID) -> np.ndarray:
    """One frame's ``codestream`` of ``tsyntax``, decoded with ``ds``'s pixel attributes."""
    decoder = get_decoder(codec_syntax(tsyntax))
    options = as_pixel_options(ds)
    options["number_of_frames"] = 1
    with _decoding(tsyntax):
        arr, _ = decoder.as_array(encapsulate([codestream]), index=0, **options)
        return np.asarray(arr)


@contextmanager
def _decoding(tsyntax: UID) -> Iterator[None]:
    """Turn whatever a codec raises while decoding into INVALID_DICOM naming ``tsyntax``."""
    try:
        with quiet_warnings():
            yield
    except (KeyboardInterrupt, SystemExit, GeneratorExit, DicomlensError):
        raise
    except BaseException as exc:
        # pylibjpeg-rle panics on some malformed RLE segments (a pyo3 panic is a
        # BaseException); whatever a codec raises while decoding this frame means its
        # data cannot be decoded.
        raise DicomlensError(
            ErrorCode.INVALID_DICOM,
            f"the {tsyntax.name} pixel data cannot be decoded ({type(exc).__name__})",
        ) from exc


def _with_transfer_syntax(ds: Dataset, tsyntax: UID) -> Dataset:
    """``ds`` itself when its file meta names ``tsyntax``, else a shallow view that does.

    pydicom decodes a dataset with the decoder of the syntax its file meta names, which a
    repeated group 0002 may have overwritten, and which must be the codec's syntax.
    """
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID") == tsyntax:
        return ds
    view = Dataset(ds)
    view.file_meta = FileMetaDataset(meta) if meta is not None else FileMetaDataset()
    view.file_meta.TransferSyntaxUID = tsyntax
    return view
