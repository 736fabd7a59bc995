"""Instances in the transfer syntax a WADO-RS retrieve asks for (PS3.18 8.7.3.5.2).

``application/dicom`` without a ``transfer-syntax`` parameter means Explicit VR Little
Endian; ``transfer-syntax=*`` means "as stored". The stored bytes are answered unchanged
whenever they already are what was asked; otherwise pydicom decodes the pixel data (the
codecs of the processing pipeline: pylibjpeg, OpenJPEG, RLE) and writes the data set again
in Explicit VR Little Endian, every other attribute and the SOP Instance UID kept.
"""

from __future__ import annotations

import io
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
)

from dicomlens.dicomweb.negotiation import ANY_SYNTAX, MULTIPART_RELATED, MediaOffer
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.validation import check_inflated_size

DICOM = "application/dicom"


def instance_offers(stored_syntax: str) -> list[MediaOffer]:
    """What a study/series/instance retrieve can answer for an instance stored in
    ``stored_syntax``: the stored encoding (``transfer-syntax=*`` or its UID) first, then
    Explicit VR Little Endian, the default of ``application/dicom``."""
    explicit = MediaOffer(
        media_type=MULTIPART_RELATED,
        part_type=DICOM,
        transfer_syntax=ExplicitVRLittleEndian,
        default=True,
    )
    if stored_syntax == ExplicitVRLittleEndian:
        return [explicit]
    stored = MediaOffer(
        media_type=MULTIPART_RELATED, part_type=DICOM, transfer_syntax=stored_syntax, default=False
    )
    return [stored, explicit]


def wanted_syntax(chosen: str | None, stored_syntax: str) -> str:
    """The transfer syntax to answer in, given the negotiated one (``*`` is the stored)."""
    if chosen is None or chosen == ANY_SYNTAX:
        return stored_syntax
    return chosen


def instance_bytes(
    path: Path, *, stored_syntax: str, transfer_syntax: str, limits: ImagingLimits
) -> bytes:
    """The DICOM file at ``path``, stored in ``stored_syntax`` (as the index recorded it),
    encoded in ``transfer_syntax``: the stored bytes unchanged when they are what is asked
    for (no parse), else Explicit VR Little Endian written anew. NOT_ACCEPTABLE for other
    syntaxes, the decoder's errors (UNSUPPORTED_TRANSFER_SYNTAX, INVALID_DICOM ...) when
    the pixels cannot be decoded."""
    if transfer_syntax == stored_syntax:
        return path.read_bytes()
    if transfer_syntax != ExplicitVRLittleEndian:
        raise DicomlensError(
            ErrorCode.NOT_ACCEPTABLE,
            f"instances are available as stored ({stored_syntax}) or in {ExplicitVRLittleEndian}",
        )
    stored = UID(stored_syntax)
    if stored == DeflatedExplicitVRLittleEndian:
        check_inflated_size(path, limits)
    try:
        with path.open("rb") as file:
            ds = dcmread(file, defer_size=None, force=True)
    except (InvalidDicomError, ValueError, EOFError, OSError) as exc:
        raise DicomlensError(ErrorCode.INVALID_DICOM, "the stored instance is unreadable") from exc
    try:
        if stored.is_compressed and "PixelData" in ds:
            ds.decompress(generate_instance_uid=False)
        elif stored == ExplicitVRBigEndian and "PixelData" in ds:
            ds.PixelData = ds.pixel_array.astype(ds.pixel_array.dtype.newbyteorder("<")).tobytes()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        out = io.BytesIO()
        ds.save_as(out, implicit_vr=False, little_endian=True, enforce_file_format=True)
    except DicomlensError:
        raise
    except Exception as exc:
        raise DicomlensError(
            ErrorCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"the instance cannot be decoded from {stored} for {ExplicitVRLittleEndian}",
        ) from exc
    return out.getvalue()
