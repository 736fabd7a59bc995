"""Decode one frame through pydicom's decoder plugins (compressed, and the native rest).

The plugin is checked before any pixel is read (:func:`require_codec`), so a missing
codec is UNSUPPORTED_TRANSFER_SYNTAX and not a decoding failure. One plugin decodes a
frame, chosen from the transfer syntax, the installed plugins and the frame's own header
(:func:`choose_plugin`); whatever it raises is INVALID_DICOM, and no other plugin is
tried on data the right one refused (pydicom alone would try every installed plugin in
turn). Frame headers are checked against the dataset before this module runs
(:mod:`~dicomlens.imaging.codestream_check`).

Every JPEG transfer syntax of PS3.6 carries an ISO 10918-1 codestream. pydicom registers
decoders for four of them only; the retired ones (processes 3-13 and the hierarchical
processes 16-29) are decoded by the decoder of the current syntax with the same kind of
codestream (:func:`codec_syntax`), whose plugins (Pillow, pylibjpeg-libjpeg) decode any
process they support and say so when they do not.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import as_pixel_options, pixel_array
from pydicom.uid import UID, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.codestream_check import frame_header, read_header
from dicomlens.imaging.codestream_header import BufferBytes, ByteSource, CodestreamHeader
from dicomlens.imaging.dicom_dataset import PARSE_ERRORS
from dicomlens.imaging.pixel_stream import read_pixel_header
from dicomlens.imaging.quiet import quiet_warnings

_IJG_SYNTAXES = {JPEGBaseline8Bit, JPEGExtended12Bit}
# ISO 10918-1 Table B.1: sequential and progressive DCT, Huffman or arithmetic coding,
# which libjpeg-turbo (Pillow) decodes; lossless and hierarchical processes it refuses.
_PILLOW_PROCESSES = frozenset({0xC0, 0xC1, 0xC2, 0xC9, 0xCA})
_PLUGIN_ORDER = ("gdcm", "pylibjpeg", "pyjpegls", "pillow", "pydicom")
"""pydicom's own order of preference (``pixels.decoders.base``); ``available_plugins`` is
sorted by name."""

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
    parsed dataset's own file meta says. One plugin decodes the frame
    (:func:`choose_plugin`); when it fails, the frame is INVALID_DICOM: no other plugin
    is tried on data the right one refused.
    """
    codec = codec_syntax(tsyntax)
    kwargs: dict[str, Any] = {"index": index}
    if isinstance(src, Dataset):
        src = _with_transfer_syntax(src, codec)
        plugin = _dataset_plugin(src, codec, index)
    else:
        kwargs["transfer_syntax_uid"] = codec
        plugin = _file_plugin(src, codec, index)
    with _decoding(tsyntax):
        return np.asarray(pixel_array(src, decoding_plugin=plugin, **kwargs))


def decode_codestream(codestream: bytes, ds: Dataset, tsyntax: UID) -> np.ndarray:
    """One frame's ``codestream`` of ``tsyntax``, decoded with ``ds``'s pixel attributes."""
    codec = codec_syntax(tsyntax)
    decoder = get_decoder(codec)
    options = as_pixel_options(ds)
    options["number_of_frames"] = 1
    header = _header_or_none(BufferBytes(codestream), codec)
    plugin = choose_plugin(codec, bits_stored=_bits_stored(ds), header=header)
    with _decoding(tsyntax):
        arr, _ = decoder.as_array(
            encapsulate([codestream]), index=0, decoding_plugin=plugin, **options
        )
        return np.asarray(arr)


def choose_plugin(codec: UID, *, bits_stored: int, header: CodestreamHeader | None) -> str:
    """The one pydicom plugin that decodes frames of ``codec`` ("" for native data).

    Lossy JPEG goes to Pillow when it decodes the frame's process: its libjpeg(-turbo)
    decodes as DCMTK's IJG code does (same IDCT and chroma upsampling), where pylibjpeg
    differs by a few levels. Pillow decodes 8-bit non-hierarchical DCT frames only, and
    pydicom hands it JPEG Extended only when BitsStored is 8; other lossy JPEG frames (12
    bits, hierarchical) go to the next installed plugin. Every other syntax takes the
    first installed plugin in the order pydicom registers them (:data:`_PLUGIN_ORDER`).
    """
    decoder = get_decoder(codec)
    installed = set(decoder.available_plugins)
    available = [name for name in _PLUGIN_ORDER if name in installed]
    available += sorted(installed - set(available))
    if not decoder.is_encapsulated or not available:
        return ""
    if codec in _IJG_SYNTAXES and "pillow" in available:
        if _pillow_decodes(codec, bits_stored, header):
            return "pillow"
        others = [name for name in available if name != "pillow"]
        return others[0] if others else "pillow"
    return available[0]


def _pillow_decodes(codec: UID, bits_stored: int, header: CodestreamHeader | None) -> bool:
    if codec != JPEGBaseline8Bit and bits_stored != 8:
        return False  # pydicom's Pillow plugin refuses JPEG Extended beyond 8 bits
    if header is None:
        return True
    return header.process in _PILLOW_PROCESSES and header.precision == 8


def _bits_stored(ds: Dataset) -> int:
    try:
        return int(ds.get("BitsStored", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _needs_header(codec: UID) -> bool:
    """Whether the plugin for ``codec`` depends on the frame's header."""
    return codec in _IJG_SYNTAXES and "pillow" in get_decoder(codec).available_plugins


def _header_or_none(source: ByteSource, codec: UID) -> CodestreamHeader | None:
    try:
        return read_header(source, codec)
    except DicomlensError:
        return None


def _dataset_plugin(ds: Dataset, codec: UID, index: int) -> str:
    header = None
    data = ds.get("PixelData")
    if _needs_header(codec) and isinstance(data, bytes):
        header = frame_header(io.BytesIO(data), 0, len(data), ds=ds, tsyntax=codec, index=index)
    return choose_plugin(codec, bits_stored=_bits_stored(ds), header=header)


def _file_plugin(src: BinaryIO, codec: UID, index: int) -> str:
    """:func:`choose_plugin` for frame ``index`` of the file ``src`` (its position kept).

    The header is read from the file: the dataset up to its pixel data, the pixel data's
    item headers and the frame's first bytes.
    """
    if not _needs_header(codec):
        return choose_plugin(codec, bits_stored=0, header=None)
    start = src.tell()
    try:
        with quiet_warnings():
            ds = pydicom.dcmread(src, stop_before_pixels=True, force=True)
            implicit, little = ds.original_encoding
            where = src.tell()
            size = src.seek(0, io.SEEK_END)
            src.seek(where)
            pixel = read_pixel_header(src, implicit=bool(implicit), little=bool(little), size=size)
    except PARSE_ERRORS:
        src.seek(start)
        return choose_plugin(codec, bits_stored=8, header=None)
    header = None
    if pixel is not None and pixel.is_undefined_length:
        header = frame_header(src, pixel.value_offset, size, ds=ds, tsyntax=codec, index=index)
    src.seek(start)
    return choose_plugin(codec, bits_stored=_bits_stored(ds), header=header)


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
