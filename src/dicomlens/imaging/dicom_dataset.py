"""Parse a DICOM dataset with pydicom so that malformed values fail here, as INVALID_DICOM."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import BinaryIO, Literal

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.uid import UID, ImplicitVRLittleEndian

from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.quiet import quiet_warnings

# Exceptions pydicom's parser raises on malformed input; anything else is a bug of ours.
PARSE_ERRORS = (
    InvalidDicomError,
    BytesLengthException,
    OSError,  # pydicom's "No tag to read at file position ..."
    ValueError,
    EOFError,
    struct.error,
    KeyError,
    TypeError,
    IndexError,
    OverflowError,
    NotImplementedError,
    AttributeError,
    zlib.error,
)

# Sequences whose items the imaging core reads (rendering, metadata); values inside other
# sequences stay lazy: converting them costs more than the rest of reading a CT header.
_SEQUENCES_READ = frozenset(
    {
        "SharedFunctionalGroupsSequence",
        "PerFrameFunctionalGroupsSequence",
        "PixelValueTransformationSequence",
        "FrameVOILUTSequence",
        "PixelMeasuresSequence",
        "VOILUTSequence",
        "ModalityLUTSequence",
    }
)


def parse_dataset(
    source: BinaryIO | Path,
    what: str,
    *,
    stop_before_pixels: bool = False,
    force: bool = True,
    convert: Literal["read", "all"] = "read",
) -> Dataset:
    """``pydicom.dcmread`` with element values converted now, not on first use.

    pydicom converts values lazily, so a malformed value would otherwise surface as an
    unexpected exception wherever it is first read (metadata, rendering ...). ``convert``
    says which values: ``"read"`` the file meta, the top level and the sequences the
    imaging core reads; ``"all"`` every value at every depth (for a reader that writes
    the whole dataset back). Raises INVALID_DICOM naming ``what`` failed.
    """
    with _invalid_dicom(what):
        ds = pydicom.dcmread(source, stop_before_pixels=stop_before_pixels, force=force)
        for part in _parts(ds):
            if convert == "all":
                for _ in part.iterall():
                    pass
            elif not _VALUES_CHECKED.get():
                _convert_values(part)
    return ds


def convert_all_values(ds: Dataset, what: str) -> None:
    """Convert every value of ``ds`` (file meta included) at every depth, as
    :func:`parse_dataset` does with ``convert="all"``; INVALID_DICOM naming ``what`` when
    one does not convert."""
    with _invalid_dicom(what):
        for part in _parts(ds):
            for _ in part.iterall():
                pass


def _parts(ds: Dataset) -> tuple[Dataset, ...]:
    """The file meta (when there is one), then the data set."""
    meta = getattr(ds, "file_meta", None)
    return (meta, ds) if meta is not None else (ds,)


@contextmanager
def _invalid_dicom(what: str) -> Iterator[None]:
    """pydicom's parse errors in the block as INVALID_DICOM naming ``what`` (warnings about
    non-conformant values silenced)."""
    with quiet_warnings():
        try:
            yield
        except PARSE_ERRORS as exc:
            raise DicomlensError(
                ErrorCode.INVALID_DICOM, f"the DICOM {what} cannot be parsed ({type(exc).__name__})"
            ) from exc
        except RecursionError as exc:  # pydicom reads each nested sequence recursively
            raise DicomlensError(
                ErrorCode.INVALID_DICOM, f"the DICOM {what} nests sequences too deeply to parse"
            ) from exc


_VALUES_CHECKED: ContextVar[bool] = ContextVar("dicomlens_values_checked", default=False)


@contextmanager
def values_checked_already() -> Iterator[None]:
    """Within the block (this thread or task only), :func:`parse_dataset` in ``"read"`` mode
    leaves values to pydicom's lazy conversion: for files whose every value was converted
    without error when they were stored (an indexed DICOMweb instance, read again for each
    rendering). Saves about a third of a rendering's time."""
    token = _VALUES_CHECKED.set(True)
    try:
        yield
    finally:
        _VALUES_CHECKED.reset(token)


def _convert_values(ds: Dataset) -> None:
    """Convert every top-level value, and the values inside the sequences the core reads."""
    for element in ds:
        value = element.value
        if element.VR == "SQ" and element.keyword in _SEQUENCES_READ:
            for item in value:
                _convert_values(item)


def transfer_syntax(ds: Dataset) -> UID:
    """The dataset's transfer syntax; Implicit VR Little Endian when it has no file meta."""
    meta = getattr(ds, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    if not value:
        return ImplicitVRLittleEndian  # PS3.5 default when no file meta is present
    return UID(str(value).strip("\x00 "))
