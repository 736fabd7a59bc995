"""Read one frame of a DICOM file in three steps: locate, validate, decode.

*Locate* parses the dataset without its pixel data and finds the pixel data's header in
the file; *validate* checks the limits, the codec and that the pixel data is as long as
its frames need, before any pixel is decoded; *decode* reads only the wanted frame,
native integer data straight from the file and everything else through pydicom's
plugins, so a 1 GB multi-frame file never needs 1 GB of memory. A deflated dataset must
be inflated whole; it is read by :func:`read_deflated_image` after an inflate-size cap.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.results import Finding
from dicomlens.imaging.codestream_check import J2K_FAMILY, check_file_codestreams
from dicomlens.imaging.decoded_image import DecodedImage
from dicomlens.imaging.dicom_dataset import parse_dataset
from dicomlens.imaging.element_integrity import StreamWalk, check_structure, walk_fragments
from dicomlens.imaging.j2k_reduced import decode_reduced
from dicomlens.imaging.jpeg_scan import repair_scan_headers
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.native_frame import read_native_frame, read_native_frame_reduced
from dicomlens.imaging.pixel_codecs import (
    JPEG_SYNTAXES,
    decode_codestream,
    decode_frame,
    require_codec,
)
from dicomlens.imaging.pixel_stream import (
    PIXEL_DATA_TAG,
    BytePatch,
    PatchedView,
    PixelHeader,
    dataset_start,
    encapsulated_fragments_complete,
    ends_with_sequence_delimiter,
    file_meta_transfer_syntax,
    read_pixel_header,
    view_from,
)
from dicomlens.imaging.quiet import quiet_warnings
from dicomlens.imaging.sniff import FileKind
from dicomlens.imaging.tolerated import (
    assume_acr_nema,
    authoritative_syntax,
    big_endian_patches,
    delimiter_missing,
    repeated_meta_patches,
    scan_header_repaired,
)
from dicomlens.imaging.validation import (
    check_deadline,
    check_geometry,
    check_inflated_size,
    check_native_length,
    check_pixel_description,
    check_single_numbers,
    frame_index,
)

# Up to this size a file that the file-based decoder refuses is parsed whole as a retry.
_SMALL_FILE = 64 * 1024**2


@dataclass(frozen=True, kw_only=True)
class LocatedDicom:
    """A DICOM file parsed up to its pixel data: what the validate and decode steps need."""

    path: Path
    size: int
    base: int
    """Bytes before the dataset (a "DICM" prefix that lost its preamble), else 0."""
    dataset: Dataset
    transfer_syntax: UID
    little_endian: bool
    pixel: PixelHeader | None
    """The pixel data element's header, offsets counted from the start of the file."""
    patches: tuple[BytePatch, ...] = ()
    """Same-length byte patches the dataset is read through (see :mod:`un_sequences`)."""
    stopped_at: str = "the end of the file"
    """Where parsing stopped when no pixel data element followed: a tag, or the end."""
    findings: tuple[Finding, ...] = ()

    def is_file(self, path: Path, size: int) -> bool:
        """Whether this parse is of the file at ``path`` as it is now (``size`` bytes): a
        caller may use it instead of parsing that file again."""
        return self.path == path and self.size == size


@dataclass(frozen=True, kw_only=True)
class FrameChoice:
    """The frame to decode, out of how many, after validation."""

    index: int
    frame_count: int
    findings: tuple[Finding, ...] = ()


# Objects that declare Rows and Columns without holding pixel data (PS3.3 A.42).
_NO_PIXEL_DATA_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.4.2"})  # MR Spectroscopy


MaxSide = int | Callable[[Dataset | None], int | None] | None
"""The long side a caller needs (None: full resolution), or a function that says it from the
DICOM data set once its header is read (None for a PNG or JPEG picture)."""


def resolve_max_side(max_side: MaxSide, header: Dataset | None) -> int | None:
    """``max_side`` for the file whose data set is ``header`` (None: not DICOM)."""
    return max_side(header) if callable(max_side) else max_side


def read_dicom_image(
    path: Path,
    kind: FileKind,
    size: int,
    limits: ImagingLimits,
    frame: int | None,
    *,
    max_side: MaxSide = None,
) -> DecodedImage:
    """Read ``path`` (a DICOM file of ``size`` bytes, sniffed as ``kind``) and decode one
    frame: ``frame``, or the middle one when None; smaller when ``max_side`` allows (see
    :func:`decode`; a function is given the data set before any pixel is decoded)."""
    located = locate_pixel_data(path, kind, size)
    if located.transfer_syntax == DeflatedExplicitVRLittleEndian:
        return read_deflated_image(path, limits, frame)
    ds, pixel = located.dataset, located.pixel
    check_single_numbers(ds)
    if all(tag.group == 0x0002 for tag in list(ds.keys())):
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, "the file holds no dataset after its file meta information"
        )
    declares_image = "Rows" in ds and "Columns" in ds
    if pixel is None and _is_image_object(ds):
        raise DicomlensError(
            ErrorCode.INVALID_DICOM,
            "the dataset is an image but no pixel data could be read: parsing stopped at"
            f" {located.stopped_at}",
        )
    if pixel is None or not declares_image:
        return _without_image(ds)
    choice = validate(located, pixel, limits, frame)
    image = decode(located, pixel, choice, limits, max_side=resolve_max_side(max_side, ds))
    return replace(image, located=located)


def locate_pixel_data(path: Path, kind: FileKind, size: int) -> LocatedDicom:
    """Parse the dataset without its pixel data, and read the pixel data's header.

    The header is not read for a deflated dataset, whose bytes are compressed.
    """
    findings: list[Finding] = []
    walk = check_structure(path, header_only=True)
    stated = file_meta_transfer_syntax(path)
    patches = big_endian_patches(path, findings) if stated == ExplicitVRBigEndian else ()
    if stated is not None:
        patches += repeated_meta_patches(path, stated, findings)
    with path.open("rb") as raw, quiet_warnings():
        base = dataset_start(raw, kind)
        f = _dataset_view(raw, base, patches)
        ds = parse_dataset(
            f, "header", stop_before_pixels=True, force=kind is FileKind.DICOM_NO_PREAMBLE
        )
        tsyntax = authoritative_syntax(ds, stated, findings)
        implicit, little = ds.original_encoding
        pixel = None
        stopped_at = "the end of the file"
        if tsyntax != DeflatedExplicitVRLittleEndian:
            where = f.tell()
            pixel = read_pixel_header(
                f, implicit=bool(implicit), little=bool(little), size=size - base
            )
            _check_pixel_position(walk, pixel, base + where)
            if pixel is None:
                stopped_at = _tag_at(f, where, little=bool(little))
                if len(ds):
                    last = max(ds.keys())
                    stopped_at += f", after the element ({last.group:04X},{last.element:04X})"
    return LocatedDicom(
        path=path,
        size=size,
        base=base,
        dataset=ds,
        transfer_syntax=tsyntax,
        little_endian=bool(little),
        pixel=pixel.shifted(base) if pixel is not None else None,
        patches=patches,
        stopped_at=stopped_at,
        findings=tuple(findings),
    )


def _check_pixel_position(walk: StreamWalk, pixel: PixelHeader | None, parsed_to: int) -> None:
    """The pixel data must be where the element lengths lead: when pydicom's parse and the
    structural walk disagree, one of them misread the stream (INVALID_DICOM)."""
    if pixel is not None and walk.pixel_data_at not in (None, parsed_to):
        raise DicomlensError(
            ErrorCode.INVALID_DICOM,
            "the file is corrupted: the pixel data is not where the element lengths lead",
        )


def _dataset_view(raw: BinaryIO, base: int, patches: tuple[BytePatch, ...]) -> BinaryIO:
    if patches:
        return PatchedView(raw, base, patches)  # type: ignore[return-value]
    return view_from(raw, base)


def _tag_at(f: BinaryIO, where: int, *, little: bool) -> str:
    """The tag at ``where`` in ``f`` as "(gggg,eeee)", or "the end of the file"."""
    f.seek(where)
    head = f.read(4)
    if len(head) < 4:
        return "the end of the file"
    group, element = struct.unpack("<HH" if little else ">HH", head)
    return f"({group:04X},{element:04X})"


def _is_image_object(ds: Dataset) -> bool:
    """Whether ``ds`` must hold pixel data: it declares Rows and Columns, or its SOP class
    is an image storage class (PS3.4 B.5), unless its class holds other data instead."""
    sop_class = UID(str(ds.get("SOPClassUID", "")).strip("\x00 "))
    if sop_class in _NO_PIXEL_DATA_CLASSES:
        return False
    return ("Rows" in ds and "Columns" in ds) or "Image Storage" in sop_class.name


def validate(
    located: LocatedDicom, pixel: PixelHeader, limits: ImagingLimits, frame: int | None
) -> FrameChoice:
    """Check the limits, the codec and the length of ``pixel``'s value; choose the frame.

    Raises TOO_LARGE, VALIDATION_ERROR, UNSUPPORTED_TRANSFER_SYNTAX, INVALID_DICOM or
    TRUNCATED_PIXEL_DATA.
    """
    findings = assume_acr_nema(located.dataset)
    frames = check_geometry(located.dataset, limits)
    findings += check_pixel_description(located.dataset)
    index = frame_index(frames, frame)
    require_codec(located.transfer_syntax)
    if located.transfer_syntax.is_compressed:
        if int(located.dataset.get("BitsAllocated", 0) or 0) == 12:
            raise DicomlensError(
                ErrorCode.INVALID_DICOM, "BitsAllocated 12 is only valid for native pixel data"
            )
        findings += _check_encapsulated(located, pixel)
        check_file_codestreams(located, pixel.value_offset, frames=frames, limits=limits)
    else:
        check_native_length(located.dataset, frames, pixel.value_length, pixel.remaining)
    return FrameChoice(index=index, frame_count=frames, findings=tuple(findings))


def _check_encapsulated(located: LocatedDicom, pixel: PixelHeader) -> list[Finding]:
    """Compressed pixel data is encapsulated and closed by its delimiter (PS3.5 A.4).

    Its items are walked by their lengths first: an item that runs past the end of the
    file is TRUNCATED_PIXEL_DATA, anything but an item INVALID_DICOM.
    Pixel data whose delimiter is missing is read when every fragment is whole (GDCM
    does the same), with a finding; otherwise it is TRUNCATED_PIXEL_DATA.
    """
    if not pixel.is_undefined_length:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, "compressed pixel data must be encapsulated (undefined length)"
        )
    walk = walk_fragments(located.path, pixel.value_offset)
    if walk.foreign:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM,
            "the encapsulated pixel data holds something other than fragments",
        )
    if walk.overrun:
        raise DicomlensError(
            ErrorCode.TRUNCATED_PIXEL_DATA,
            "a fragment of the encapsulated pixel data runs past the end of the file",
        )
    if walk.closed or ends_with_sequence_delimiter(located.path, located.size):
        return []
    if not encapsulated_fragments_complete(located.path, pixel.value_offset, located.size):
        raise DicomlensError(
            ErrorCode.TRUNCATED_PIXEL_DATA,
            "the encapsulated pixel data ends before its sequence delimiter",
        )
    return [delimiter_missing()]


def decode(
    located: LocatedDicom,
    pixel: PixelHeader,
    choice: FrameChoice,
    limits: ImagingLimits,
    *,
    max_side: int | None = None,
) -> DecodedImage:
    """Decode the chosen frame: native integer data from the file, the rest by plugins.

    With ``max_side``, a frame more than twice that size is decoded smaller where the
    data allows it (:func:`_decode_reduced`), its long side still at least ``max_side``.

    Raises INVALID_DICOM when the data cannot be decoded, DECODE_TIMEOUT when it took longer
    than the limit.
    """
    start = time.perf_counter()
    reduced = _decode_reduced(located, pixel, choice, max_side) if max_side else None
    pixels, reduction = reduced if reduced is not None else (None, 1)
    native = not located.transfer_syntax.is_compressed and pixel.tag == PIXEL_DATA_TAG
    if pixels is None and native:
        pixels = read_native_frame(
            located.path,
            located.dataset,
            pixel.value_offset,
            choice.index,
            little=located.little_endian,
        )
    findings: tuple[Finding, ...] = ()
    if pixels is None:
        pixels, findings = _decode_with_plugins(located, pixel, choice)
    elapsed = time.perf_counter() - start
    check_deadline(elapsed, limits)
    everything = (*located.findings, *choice.findings, *findings)
    image = _with_image(located.dataset, pixels, choice, elapsed, everything)
    if reduction == 1:
        return image
    full = (int(located.dataset.Rows), int(located.dataset.Columns))
    return replace(image, reduction=reduction, full_size=full)


def _decode_reduced(
    located: LocatedDicom, pixel: PixelHeader, choice: FrameChoice, max_side: int
) -> tuple[np.ndarray, int] | None:
    """The chosen frame decoded smaller, long side >= ``max_side``, and the factor; None
    when the frame is not large enough or its data cannot be read smaller exactly.

    Native integer data: block means read in strips (PS3.5 8.1.1 layouts of
    :func:`read_native_frame`). JPEG 2000 and HTJ2K: resolution levels discarded
    (:mod:`~dicomlens.imaging.j2k_reduced`). Anything else: None.
    """
    tsyntax, ds = located.transfer_syntax, located.dataset
    if -(-max(int(ds.Rows), int(ds.Columns)) // 2) < max_side:
        return None  # even half the frame would be smaller than the picture
    if not tsyntax.is_compressed:
        if pixel.tag != PIXEL_DATA_TAG:
            return None
        return read_native_frame_reduced(
            located.path,
            ds,
            pixel.value_offset,
            choice.index,
            little=located.little_endian,
            max_side=max_side,
        )
    if tsyntax not in J2K_FAMILY:
        return None
    codestream = _frame_codestream(located, pixel, choice)
    if codestream is None:
        return None
    reduced = decode_reduced(codestream, ds, max_side)
    if reduced is None:
        return None
    pixels, levels = reduced
    return pixels, 1 << levels


def _decode_with_plugins(
    located: LocatedDicom, pixel: PixelHeader, choice: FrameChoice
) -> tuple[np.ndarray, tuple[Finding, ...]]:
    """Frame ``choice.index`` decoded by pydicom from the file, or from the whole dataset.

    A JPEG frame the codecs refuse is decoded again with its scan headers repaired
    (:func:`~dicomlens.imaging.jpeg_scan.repair_scan_headers`), when that changes them.
    """
    tsyntax, index = located.transfer_syntax, choice.index
    try:
        try:
            with located.path.open("rb") as raw:
                raw.seek(located.base)
                view = _dataset_view(raw, located.base, located.patches)
                return decode_frame(view, tsyntax, index), ()
        except DicomlensError:
            if located.size > _SMALL_FILE or located.base or located.patches:
                raise
            # pydicom's file-based decoder assumes the declared VR encoding; its dataset
            # reader also copes with a dataset written in implicit VR under an explicit
            # syntax. Small files only: the whole file is read into memory.
            whole = parse_dataset(located.path, "dataset", force=True)
            return decode_frame(whole, tsyntax, index), ()
    except DicomlensError:
        if tsyntax not in JPEG_SYNTAXES:
            raise
        codestream = _frame_codestream(located, pixel, choice)
        repaired = repair_scan_headers(codestream) if codestream is not None else None
        if repaired is None:
            raise
        arr = decode_codestream(repaired, located.dataset, tsyntax)
        return arr, (scan_header_repaired(),)


def _frame_codestream(
    located: LocatedDicom, pixel: PixelHeader, choice: FrameChoice
) -> bytes | None:
    """The codestream of the chosen frame, read from the encapsulated pixel data."""
    with located.path.open("rb") as raw, quiet_warnings():
        raw.seek(pixel.value_offset)
        try:
            return bytes(get_frame(raw, choice.index, number_of_frames=choice.frame_count))
        except (ValueError, OSError, struct.error, KeyError, IndexError):
            return None


def read_deflated_image(path: Path, limits: ImagingLimits, frame: int | None) -> DecodedImage:
    """Deflated datasets must be inflated as a whole; inflate under a size cap first."""
    check_inflated_size(path, limits)
    check_structure(path)
    ds = parse_dataset(path, "deflated dataset", force=True)
    check_single_numbers(ds)
    if "PixelData" not in ds or "Rows" not in ds:
        return _without_image(ds)
    frames = check_geometry(ds, limits)
    findings = tuple(check_pixel_description(ds))
    index = frame_index(frames, frame)
    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        length = len(ds.PixelData)
        check_native_length(ds, frames, length, length)
    start = time.perf_counter()
    arr = decode_frame(ds, DeflatedExplicitVRLittleEndian, index)
    elapsed = time.perf_counter() - start
    check_deadline(elapsed, limits)
    del ds.PixelData
    return _with_image(ds, arr, FrameChoice(index=index, frame_count=frames), elapsed, findings)


def _without_image(ds: Dataset) -> DecodedImage:
    return DecodedImage(
        kind="dicom", dataset=ds, pixels=None, photometric=None, frame_index=None, frame_count=0
    )


def _with_image(
    ds: Dataset,
    arr: np.ndarray,
    choice: FrameChoice,
    elapsed: float,
    findings: tuple[Finding, ...] = (),
) -> DecodedImage:
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if int(ds.get("SamplesPerPixel", 1)) == 3 and photometric != "PALETTE COLOR":
        photometric = "RGB"  # pydicom converts YBR_* to RGB while decoding
    return DecodedImage(
        kind="dicom",
        dataset=ds,
        pixels=arr,
        photometric=photometric,
        frame_index=choice.index,
        frame_count=choice.frame_count,
        decode_seconds=elapsed,
        findings=findings,
    )
