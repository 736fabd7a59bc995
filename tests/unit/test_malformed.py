"""Malformed files fail with INVALID_DICOM, never with an unexpected exception or a crash.

Each case is one damage found by mutating corpus files at random: before the fix it
escaped as NotImplementedError, BytesLengthException, ValueError, AttributeError, or a
Rust panic (a BaseException that takes the worker down).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from corpus import real_files
from corpus.generate import SECONDARY_CAPTURE, attach_grey, new_dataset, ramp, to_bytes
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.metadata import summarize
from dicomlens.imaging.render import render

LIMITS = ImagingLimits()


def _real(name: str) -> bytes:
    return next(path for path in real_files() if path.name == name).read_bytes()


def _read_and_render(path: Path) -> None:
    image = read_image(path, limits=LIMITS)
    summarize(image)
    if image.has_image:
        render(image)


def _rle_overrun() -> bytes:
    """MR_small_RLE.dcm whose first segment repeats bytes past the end of the frame."""
    data = bytearray(_real("MR_small_RLE.dcm"))
    offsets_item = data.index(b"\xfe\xff\x00\xe0", data.index(b"\xe0\x7f\x10\x00"))
    fragment = (
        offsets_item + 8 + int.from_bytes(data[offsets_item + 4 : offsets_item + 8], "little")
    )
    header = fragment + 8
    segment = header + int.from_bytes(data[header + 4 : header + 8], "little")
    for k in range(segment, segment + 400, 2):
        data[k : k + 2] = b"\x81\x7f"  # "repeat 0x7f 128 times", again and again
    return bytes(data)


def _unknown_vr_in_dataset() -> bytes:
    data = _real("CT_small.dcm")
    return data.replace(b"\x08\x00\x60\x00CS", b"\x08\x00\x60\x00ZZ", 1)  # Modality


def _unknown_vr_in_file_meta() -> bytes:
    data = _real("CT_small.dcm")
    return data.replace(b"\x02\x00\x02\x00UI", b"\x02\x00\x02\x00II", 1)


def _voi_lut_with_two_descriptor_values() -> bytes:
    ds = new_dataset(SECONDARY_CAPTURE, 70, "OT")
    attach_grey(ds, ramp(16, 16, 0, 4095).astype(np.uint16), bits_stored=12)
    item = Dataset()
    item.LUTDescriptor = [4096, 0]
    item.add_new(0x00283006, "OW", np.arange(0, 4096, 16, dtype="<u2").tobytes())  # LUT Data
    ds.VOILUTSequence = Sequence([item])
    return to_bytes(ds)


def _palette_without_green() -> bytes:
    ds = new_dataset(SECONDARY_CAPTURE, 71, "OT")
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "PALETTE COLOR"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes(range(64))
    for colour in ("Red", "Green", "Blue"):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
    ds.add_new(0x00281201, "OW", bytes(512))
    ds.add_new(0x00281203, "OW", bytes(512))
    return to_bytes(ds)


@pytest.mark.parametrize(
    "damage",
    [
        _rle_overrun,
        _unknown_vr_in_dataset,
        _unknown_vr_in_file_meta,
        _palette_without_green,
    ],
    ids=lambda damage: damage.__name__.strip("_"),
)
def test_a_damaged_file_fails_with_invalid_dicom(damage: object, tmp_path: Path) -> None:
    # Given a damaged file
    path = tmp_path / "damaged.dcm"
    path.write_bytes(damage())  # type: ignore[operator]
    # When it is read, summarised and rendered
    with pytest.raises(DicomlensError) as caught:
        _read_and_render(path)
    # Then the user is told the file is invalid
    assert caught.value.code == ErrorCode.INVALID_DICOM


def test_a_voi_lut_with_two_descriptor_values_is_ignored_not_fatal(tmp_path: Path) -> None:
    # Given a VOI LUT whose descriptor lacks its third value (DCMTK ignores such a LUT)
    path = tmp_path / "damaged.dcm"
    path.write_bytes(_voi_lut_with_two_descriptor_values())
    # When it is read and rendered
    rendered = render(read_image(path, limits=LIMITS))
    # Then the automatic window is used and the user is told the LUT was ignored
    assert rendered.window.source == "automatic"
    assert [finding.kind for finding in rendered.findings] == ["lut-ignored"]
