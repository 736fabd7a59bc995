"""De-identify one DICOM file: pixels first (from the original), then attributes.

The original is only read. The output is written to a temporary file beside the target and
renamed into place, after :func:`~dicomlens.deid.verify.problems` found nothing left that
the profile should have removed and, when the pixels were searched for text,
:func:`~dicomlens.deid.verify.legible_text_frames` found no legible text in the encoded
output; a file that cannot be made safe raises DEIDENTIFICATION_FAILED,
REDACTION_IMPOSSIBLE or REDACTION_INCOMPLETE and writes nothing.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicomlens.deid.attributes import AttributeProfile, patient_context
from dicomlens.deid.pixels import (
    RedactionPlan,
    TextLocator,
    decode_frames,
    plan_redaction,
    rebuild_pixels,
    remove_icon_images,
    text_search,
)
from dicomlens.deid.profile import TABLE_EDITION, ProfileOptions
from dicomlens.deid.verify import legible_text_frames, problems
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.decode import RASTER_KINDS, locate_file
from dicomlens.imaging.dicom_dataset import parse_dataset
from dicomlens.imaging.element_integrity import check_file
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.pixel_stream import is_deflated
from dicomlens.imaging.validation import check_inflated_size

METHOD = f"PS3.15 E.1 BASIC PROFILE ({TABLE_EDITION}), DICOMLENS"


@dataclass(frozen=True, kw_only=True)
class DeidentifyReport:
    """What happened to one file (no patient data in it)."""

    output: Path
    sop_instance_uid: str
    transfer_syntax: str
    pixels_redacted: bool
    text_searched: bool
    text_regions: int
    regions_redacted: int


def deidentify_file(
    source: Path,
    target: Path,
    options: ProfileOptions,
    *,
    limits: ImagingLimits,
    locator: TextLocator | None = None,
    search_workers: int = 1,
) -> DeidentifyReport:
    """Write the de-identified copy of ``source`` to ``target``.

    The pixel data is always decoded and rebuilt. When the pixels are searched for text
    (``locator`` given, ``pixel_text`` not ``off``), the encoded output is searched again
    as widely before anything is written; only when that finds no legible text does the
    output say BurnedInAnnotation NO and Clean Pixel Data (113101), otherwise the file is
    refused with REDACTION_INCOMPLETE. ``search_workers`` images are searched at a time.

    Kept as one function of about 60 lines on purpose: it is the ordered list of steps
    (read, check, search, redact, profile, verify, write), each a call, and the order is
    what the privacy guarantee rests on.
    """
    ds = read_dicom(source, limits=limits)
    check_file(source, ds)  # a misread element could carry PHI into a kept attribute
    frames = decode_frames(ds, limits=limits) if _has_pixels(ds) else None
    search = None
    if locator is not None and options.pixel_text != "off" and frames is not None:
        search = text_search(locator, workers=search_workers)
    plan = RedactionPlan(rects=(), text_searched=False)
    if frames is not None:
        plan = plan_redaction(frames, ds, options, search=search)
    redacted = bool(plan.rects or plan.frame_rects)
    burned_in = str(ds.get("BurnedInAnnotation", "")).strip().upper()
    if frames is not None and not redacted and burned_in == "YES":
        raise DicomlensError(
            ErrorCode.REDACTION_IMPOSSIBLE,
            "the file declares burned-in annotation, but no region to redact was found "
            "(add a region rule for this modality and device)",
        )
    if frames is not None:
        rebuild_pixels(ds, frames, plan)
        if search is not None:
            ds.BurnedInAnnotation = "NO"  # stands only if the verification below passes
    remove_icon_images(ds)
    deidentify_dataset(ds, options, pixels_cleaned=search is not None)
    found = problems(ds, options)
    if found:
        raise DicomlensError(
            ErrorCode.DEIDENTIFICATION_FAILED,
            "identifying data would remain: " + "; ".join(found[:5]),
        )
    encoded = encode(ds)
    if search is not None:
        remaining = legible_text_frames(encoded, search, limits=limits)
        if remaining:
            shown = ", ".join(str(frame) for frame in remaining[:10])
            raise DicomlensError(
                ErrorCode.REDACTION_INCOMPLETE,
                f"text is still legible after redaction on {len(remaining)} "
                f"{'frame' if len(remaining) == 1 else 'frames'} ({shown}); nothing was written",
            )
    write_atomically(encoded, target)
    return DeidentifyReport(
        output=target,
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        pixels_redacted=redacted,
        text_searched=plan.text_searched,
        text_regions=plan.text_regions,
        regions_redacted=len(plan.rects) + len(plan.frame_rects),
    )


def _has_pixels(ds: Dataset) -> bool:
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


def read_dicom(source: Path, *, limits: ImagingLimits) -> Dataset:
    """The whole dataset of ``source``, or NOT_AN_IMAGE / INVALID_DICOM / TOO_LARGE.

    The file-size limit, the inflate-size limit, the sniffing and the parsing are the
    imaging reader's own.
    """
    if locate_file(source, limits=limits).kind in RASTER_KINDS:
        raise DicomlensError(
            ErrorCode.DEIDENTIFICATION_FAILED, "only DICOM files can be de-identified"
        )
    if is_deflated(source):
        # pydicom inflates a deflated dataset whole: refuse an inflate bomb before that.
        check_inflated_size(source, limits)
    try:
        ds = parse_dataset(source, "file", force=True, convert="all")
    except DicomlensError as exc:
        raise DicomlensError(ErrorCode.INVALID_DICOM, "the file is not readable DICOM") from exc
    if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
        raise DicomlensError(
            ErrorCode.INVALID_DICOM, "the file is not a DICOM instance (no SOP Class/Instance UID)"
        )
    implicit, little = ds.original_encoding
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        )
    if little is False:
        _to_little_endian(ds)
    return ds


_WORD_SIZE = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


def _to_little_endian(ds: Dataset) -> None:
    """Big endian (retired, PS3.5 A.3) is written as Explicit VR Little Endian: binary
    values read as big-endian bytes are byte-swapped, the pixel data re-encoded."""
    if "PixelData" in ds:
        arr = ds.pixel_array
        ds.PixelData = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    for elem in ds.iterall():
        size = _WORD_SIZE.get(elem.VR)
        if size and isinstance(elem.value, bytes) and int(elem.tag) != 0x7FE00010:
            data = np.frombuffer(elem.value, dtype=f">u{size}")
            elem.value = data.astype(f"<u{size}").tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_original_encoding(False, True, ds.original_character_set)


def deidentify_dataset(ds: Dataset, options: ProfileOptions, *, pixels_cleaned: bool) -> None:
    """Apply the attribute profile to ``ds`` and record what was done (PS3.15 E.1.1)."""
    patient = patient_context(ds, options)
    AttributeProfile(options).apply(ds, patient)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    codes = Sequence()
    for value, meaning in options.applied_codes(pixels_cleaned=pixels_cleaned):
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = codes
    ds.LongitudinalTemporalInformationModified = {
        "off": "REMOVED",
        "full": "UNMODIFIED",
        "shifted": "MODIFIED",
    }[options.longitudinal]
    _rebuild_file_meta(ds)


def _rebuild_file_meta(ds: Dataset) -> None:
    """A fresh file meta group: no source AE titles or private meta elements survive."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(ds.file_meta.TransferSyntaxUID)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "DICOMLENS_DEID"
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128


def encode(ds: Dataset) -> bytes:
    """``ds`` as the bytes of a DICOM file (PS3.10)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_atomically(data: bytes, target: Path) -> None:
    """Write ``data`` to ``target`` via a temporary file in the same folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".deid-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        Path(name).replace(target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(name).unlink()
        raise
