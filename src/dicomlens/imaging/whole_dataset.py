"""The whole data set of a DICOM file from its parse up to the pixel data, without reading
the file again.

The processor analyses an upload (:func:`~dicomlens.imaging.dicom_reader.locate_pixel_data`
parses it up to the pixel data), then indexes it for DICOMweb, which needs the whole data
set: every value converted, and the pixel data element that WADO-RS metadata names as bulk
data. Parsing the file a second time for that was about an eighth of a worker's CPU per
upload. :func:`whole_dataset` completes the analysis's parse instead, when that parse *is*
the file's data set: read without byte patches from the file's first byte, and nothing but
the pixel data after it (a data set trailing padding, a signature or any element after the
pixel data takes a full parse). The pixel data element stands in with its own tag, VR and
length and a two-byte value: what the index reads of it is that it is there and what it is,
never its bytes (WADO-RS serves those from the file).
"""

from __future__ import annotations

import copy
import struct
from pathlib import Path
from typing import IO

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from dicomlens.domain.errors import DicomlensError
from dicomlens.imaging.dicom_dataset import convert_all_values
from dicomlens.imaging.dicom_reader import LocatedDicom
from dicomlens.imaging.encapsulated_frames import walk_items
from dicomlens.imaging.pixel_stream import PixelHeader

# (FFFE,E0DD) with a zero length, little endian as encapsulated pixel data always is.
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_UNDEFINED = 0xFFFFFFFF
# The VRs a pixel data element is written with (a 4-byte length after 2 reserved bytes).
_LONG_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})


def whole_dataset(located: LocatedDicom, path: Path) -> Dataset | None:
    """The data set of the file at ``path`` as a full parse (``dcmread`` with every value
    converted) would give it for indexing, made from ``located`` (that file parsed up to
    its pixel data); None when ``located`` cannot stand for it (another file or version,
    byte patches, an offset start, no pixel data, anything after the pixel data).

    Raises INVALID_DICOM when a value does not convert, as the full parse would. The
    returned data set is a shallow copy: ``located.dataset`` gains nothing.
    """
    pixel = located.pixel
    size = path.stat().st_size
    if not located.is_file(path, size) or located.patches or located.base or pixel is None:
        return None
    implicit, little = located.dataset.original_encoding
    with path.open("rb") as file:
        if _value_end(file, pixel, size) != size:
            return None
        consistent, vr = _header_vr(file, pixel, implicit=bool(implicit), little=bool(little))
    if not consistent:
        return None
    ds = copy.copy(located.dataset)
    # Dataset.copy() and copy.copy share the element dict: the copy gets its own
    ds._dict = dict(located.dataset._dict)
    convert_all_values(ds, "instance")
    tag = Tag(pixel.tag)
    length = _UNDEFINED if pixel.is_undefined_length else pixel.value_length
    ds[tag] = RawDataElement(  # pydicom converts it on access, as any element it read
        tag, vr, length, b"\x00\x00", pixel.value_offset, bool(implicit), bool(little)
    )
    return ds


def _value_end(file: IO[bytes], pixel: PixelHeader, size: int) -> int | None:
    """Where the pixel data element's value ends in the ``size``-byte file (after its
    sequence delimiter when encapsulated); None when that cannot be told."""
    if not pixel.is_undefined_length:
        return pixel.value_offset + pixel.value_length
    try:
        items = walk_items(file, pixel.value_offset, size)
    except DicomlensError:
        return None  # the full parse says what is wrong
    if not items.fragments:
        return None
    last = items.fragments[-1]
    end = last.offset + last.length
    file.seek(end)
    return end + 8 if file.read(8) == _SEQUENCE_DELIMITER else None


def _header_vr(
    file: IO[bytes], pixel: PixelHeader, *, implicit: bool, little: bool
) -> tuple[bool, str | None]:
    """Whether the bytes before the pixel data value are its element header in this
    encoding (a file that mixes encodings is parsed whole), and the VR as a full parse
    reads it: the written one (explicit VR), or None (implicit VR: pydicom's dictionary VR,
    settled OB or OW as a full parse settles it)."""
    header = 8 if implicit else 12  # tag, (VR, reserved,) length
    if pixel.value_offset < header:
        return False, None
    file.seek(pixel.value_offset - header)
    data = file.read(header)
    group, element = struct.unpack("<HH" if little else ">HH", data[:4])
    if (group << 16 | element) != pixel.tag:
        return False, None
    if implicit:
        return True, None
    vr = data[4:6].decode("ascii", errors="replace")
    return vr in _LONG_BINARY_VRS, vr
