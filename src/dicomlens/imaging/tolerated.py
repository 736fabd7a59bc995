"""Departures from the standard that the DICOM reader tolerates, each told as a finding.

What DCMTK or GDCM read with a warning, the reader reads too, and says so: a group 0002
repeated in the dataset (the file meta's transfer syntax wins), undefined-length UN
elements in a big endian dataset (PS3.5 6.2.2), an ACR-NEMA file without Photometric
Interpretation or with packed 12-bit pixels, encapsulated pixel data without its
sequence delimiter, and a JPEG scan header with fields its process fixes.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID

from dicomlens.domain.results import (
    ACR_NEMA_ASSUMED,
    JPEG_SCAN_HEADER_REPAIRED,
    SEQUENCE_DELIMITER_MISSING,
    TRANSFER_SYNTAX_CONFLICT,
    UN_SEQUENCE_SKIPPED,
    Finding,
)
from dicomlens.imaging.dicom_dataset import transfer_syntax
from dicomlens.imaging.pixel_stream import BytePatch, skip_file_meta
from dicomlens.imaging.repeated_meta import repeated_meta
from dicomlens.imaging.un_sequences import big_endian_un_patches


def repeated_meta_patches(
    path: Path, stated: str, findings: list[Finding]
) -> tuple[BytePatch, ...]:
    """Patches that keep pydicom from reading group 0002 repeated in the dataset as meta.

    pydicom reads every group 0002 element before the dataset as file meta, the last
    value winning, and then parses the dataset in the encoding that value names.
    """
    repeated = repeated_meta(path, stated)
    if repeated.transfer_syntax not in (None, stated):
        findings.append(_conflict(repeated.transfer_syntax or "", stated))
    return repeated.patches


def authoritative_syntax(ds: Dataset, stated: str | None, findings: list[Finding]) -> UID:
    """The file meta's transfer syntax (PS3.10 7.1), whatever group 0002 repeated says.

    Repeated elements found after the file meta's group length are patched away before
    parsing; without a group length, pydicom may still have taken the repeated value,
    and the first value (the file meta's own) is put back here.
    """
    parsed = transfer_syntax(ds)
    if stated is None or not UID(stated).is_valid or UID(stated) == parsed:
        return parsed
    actual = UID(stated)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        meta.TransferSyntaxUID = actual
    if not any(finding.kind == TRANSFER_SYNTAX_CONFLICT for finding in findings):
        findings.append(_conflict(parsed, actual))
    return actual


def _conflict(repeated: str, actual: str) -> Finding:
    return Finding(
        kind=TRANSFER_SYNTAX_CONFLICT,
        message=(
            f"group 0002 repeated in the dataset names the transfer syntax {repeated}; "
            f"the file meta's {actual} was used"
        ),
        source="dicom-tags",
    )


def big_endian_patches(path: Path, findings: list[Finding]) -> tuple[BytePatch, ...]:
    """Patches that hide a big endian dataset's undefined-length UN elements from pydicom."""
    with path.open("rb") as f:
        skip_file_meta(f)
        patches, tags = big_endian_un_patches(f)
    for tag in tags:
        findings.append(
            Finding(
                kind=UN_SEQUENCE_SKIPPED,
                message=(
                    f"({tag >> 16:04X},{tag & 0xFFFF:04X}) is an undefined-length UN element in"
                    " a big endian dataset; it was read as implicit VR little endian"
                    " (PS3.5 6.2.2) to find its end, and its content was skipped"
                ),
                source="dicom-tags",
            )
        )
    return patches


def assume_acr_nema(ds: Dataset) -> list[Finding]:
    """Give a single-sample image without Photometric Interpretation MONOCHROME2.

    ACR-NEMA files predate the attribute; DCMTK (``+Ma``) and GDCM assume MONOCHROME2.
    Packed 12-bit pixels (BitsAllocated 12) are unpacked by the native reader.
    """
    findings = []
    if "PhotometricInterpretation" not in ds and int(ds.get("SamplesPerPixel", 1) or 1) == 1:
        ds.PhotometricInterpretation = "MONOCHROME2"
        findings.append(
            Finding(
                kind=ACR_NEMA_ASSUMED,
                message="the file has no Photometric Interpretation; MONOCHROME2 was assumed",
                source="dicom-tags",
            )
        )
    if int(ds.get("BitsAllocated", 0) or 0) == 12:
        findings.append(
            Finding(
                kind=ACR_NEMA_ASSUMED,
                message="the pixels are packed 12-bit (ACR-NEMA, BitsAllocated 12); unpacked",
                source="dicom-tags",
            )
        )
    return findings


def delimiter_missing() -> Finding:
    """The finding for encapsulated pixel data read without its sequence delimiter."""
    return Finding(
        kind=SEQUENCE_DELIMITER_MISSING,
        message=(
            "the encapsulated pixel data has no sequence delimiter; every fragment is"
            " whole, so it was decoded"
        ),
        source="dicom-tags",
    )


def scan_header_repaired() -> Finding:
    """The finding for a JPEG frame decoded after its scan header was repaired."""
    return Finding(
        kind=JPEG_SCAN_HEADER_REPAIRED,
        message=(
            "a JPEG scan header held values its process does not allow (spectral"
            " selection or approximation); they were set to the fixed values to decode"
        ),
        source="dicom-tags",
    )
