"""Generated edge cases: small, deterministic files that the real corpus lacks.

Every builder returns the bytes of one file; ``generate(folder)`` writes them all. Pixel
values come from fixed formulas or a seeded generator, and UIDs are fixed, so the corpus
is byte-identical on every run. No file holds patient data.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import dcmwrite, write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

_ROOT = "1.2.826.0.1.3680043.8.498.99"  # pydicom's UID root + a fixed test branch
CT_IMAGE = UID("1.2.840.10008.5.1.4.1.1.2")
MR_IMAGE = UID("1.2.840.10008.5.1.4.1.1.4")
SECONDARY_CAPTURE = UID("1.2.840.10008.5.1.4.1.1.7")
SEGMENTATION = UID("1.2.840.10008.5.1.4.1.1.66.4")
BASIC_TEXT_SR = UID("1.2.840.10008.5.1.4.1.1.88.11")
US_IMAGE = UID("1.2.840.10008.5.1.4.1.1.6.1")


@dataclass(frozen=True, kw_only=True)
class GeneratedCase:
    """One generated file and what reading it must give.

    ``expect`` is ``"image"``, ``"no-image"`` or the error code reading must raise.
    """

    name: str
    build: Callable[[], bytes]
    expect: str
    about: str


# --------------------------------------------------------------------------- helpers


def _uid(n: int) -> str:
    return f"{_ROOT}.{n}"


def new_dataset(sop_class: UID, n: int, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = _uid(n)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = _uid(0)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = _uid(n)
    ds.StudyInstanceUID = _uid(1000 + n)
    ds.SeriesInstanceUID = _uid(2000 + n)
    ds.Modality = modality
    ds.PatientName = "Generated^Case"
    ds.PatientID = f"GEN{n:04d}"
    ds.Manufacturer = "dicomlens tests"
    ds.ManufacturerModelName = "corpus generator"
    ds.SeriesDescription = "generated edge case"
    return ds


def attach_grey(ds: Dataset, arr: np.ndarray, *, bits_stored: int, signed: bool = False) -> None:
    """Attach a grayscale image (frames x rows x columns, or rows x columns)."""
    frames = arr.shape[0] if arr.ndim == 3 else 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = ds.get("PhotometricInterpretation", "MONOCHROME2")
    ds.Rows, ds.Columns = arr.shape[-2:]
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def to_bytes(ds: Dataset, *, syntax: UID = ExplicitVRLittleEndian, preamble: bool = True) -> bytes:
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    data = buffer.getvalue()
    return data if preamble else data[128:]


def ramp(rows: int, columns: int, low: int, high: int) -> np.ndarray:
    """A diagonal ramp from ``low`` to ``high`` with a brighter square and a dark disc."""
    y, x = np.mgrid[0:rows, 0:columns]
    ramp = low + (high - low) * (x + y) / (rows + columns - 2)
    ramp[rows // 4 : rows // 2, columns // 4 : columns // 2] = high - (high - low) // 8
    disc = (y - 3 * rows // 4) ** 2 + (x - 3 * columns // 4) ** 2 < (min(rows, columns) // 6) ** 2
    ramp[disc] = low + (high - low) // 10
    return np.rint(ramp)


# --------------------------------------------------------------------------- grayscale


def monochrome1() -> bytes:
    ds = new_dataset(SECONDARY_CAPTURE, 1, "CR")
    ds.PhotometricInterpretation = "MONOCHROME1"
    attach_grey(ds, ramp(64, 80, 0, 4095).astype(np.uint16), bits_stored=12)
    ds.WindowCenter, ds.WindowWidth = 2000, 3000
    ds.BodyPartExamined = "CHEST"
    return to_bytes(ds)


def monochrome1_no_window() -> bytes:
    """MONOCHROME1 without a window: automatic window, then inversion."""
    ds = new_dataset(SECONDARY_CAPTURE, 17, "DX")
    ds.PhotometricInterpretation = "MONOCHROME1"
    attach_grey(ds, ramp(30, 50, 100, 3000).astype(np.uint16), bits_stored=12)
    return to_bytes(ds)


def presentation_inverse() -> bytes:
    """MONOCHROME2 with Presentation LUT Shape INVERSE (shown inverted, PS3.3 C.11.6)."""
    ds = new_dataset(SECONDARY_CAPTURE, 18, "DX")
    attach_grey(ds, ramp(30, 50, 0, 1000).astype(np.uint16), bits_stored=10)
    ds.WindowCenter, ds.WindowWidth = 500, 1000
    ds.PresentationLUTShape = "INVERSE"
    return to_bytes(ds)


def voi_lut_sequence() -> bytes:
    ds = new_dataset(SECONDARY_CAPTURE, 2, "OT")
    attach_grey(ds, ramp(48, 64, 0, 4095).astype(np.uint16), bits_stored=12)
    # A gamma-like LUT over [1000, 3047]; values outside clamp to the first/last entry.
    entries = 2048
    lut = np.rint(4095 * (np.arange(entries) / (entries - 1)) ** 0.6).astype("<u2")
    item = Dataset()
    item.LUTDescriptor = [entries, 1000, 12]
    item.LUTExplanation = "gamma 0.6"
    item.add_new(0x00283006, "OW", lut.tobytes())  # LUT Data
    ds.VOILUTSequence = Sequence([item])
    return to_bytes(ds)


def voi_lut_signed() -> bytes:
    """Signed CT with a VOI LUT starting at -1024 HU (8-bit entries, implicit VR).

    In implicit VR the LUT Descriptor's VR (US or SS) is not in the file: the first mapped
    value must be read as signed because the pixel data is (PS3.3 C.11.2.1.1).
    """
    ds = new_dataset(CT_IMAGE, 15, "CT")
    attach_grey(ds, ramp(40, 50, -2000, 2000).astype(np.int16), bits_stored=16, signed=True)
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    entries = 2048
    lut = np.rint(255 * np.linspace(0, 1, entries) ** 1.5).astype(np.uint8)
    item = Dataset()
    item.LUTDescriptor = [entries, -1024, 8]
    item["LUTDescriptor"].VR = "SS"
    item.LUTData = lut.astype(np.uint16).tolist()
    item["LUTData"].VR = "US"
    ds.VOILUTSequence = Sequence([item])
    return to_bytes(ds, syntax=ImplicitVRLittleEndian)


def modality_lut_sequence() -> bytes:
    """Modality LUT Sequence (instead of rescale) from stored 0..4095 to a curved scale."""
    ds = new_dataset(SECONDARY_CAPTURE, 16, "OT")
    attach_grey(ds, ramp(36, 44, 0, 4095).astype(np.uint16), bits_stored=12)
    entries = 3000
    lut = np.rint(40000 * np.linspace(0, 1, entries) ** 2).astype("<u2")
    item = Dataset()
    item.LUTDescriptor = [entries, 500, 16]
    item.ModalityLUTType = "OD"
    item.add_new(0x00283006, "OW", lut.tobytes())  # LUT Data
    ds.ModalityLUTSequence = Sequence([item])
    ds.WindowCenter, ds.WindowWidth = 15000, 30000
    return to_bytes(ds)


def _windowed(n: int, function: str) -> bytes:
    ds = new_dataset(MR_IMAGE, n, "MR")
    attach_grey(ds, ramp(40, 56, 0, 1000).astype(np.uint16), bits_stored=16)
    ds.WindowCenter, ds.WindowWidth = 500, 400
    ds.VOILUTFunction = function
    return to_bytes(ds)


def sigmoid_window() -> bytes:
    return _windowed(3, "SIGMOID")


def linear_exact_window() -> bytes:
    return _windowed(4, "LINEAR_EXACT")


def signed_rescale() -> bytes:
    ds = new_dataset(CT_IMAGE, 5, "CT")
    attach_grey(ds, ramp(50, 70, -2048, 2047).astype(np.int16), bits_stored=12, signed=True)
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 0.5, 100, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.BodyPartExamined = "HEAD"
    ds.SliceThickness = 2.5
    ds.PixelSpacing = [0.5, 0.5]
    return to_bytes(ds)


def _high_bits(n: int, *, signed: bool) -> bytes:
    """12 of 16 bits stored, with bits 12-15 set over one quarter of the image.

    PS3.5 8.1.1: bits outside Bits Stored are not pixel data (old files keep overlays
    there) and must be ignored; signed values take their sign from the High Bit.
    """
    ds = new_dataset(CT_IMAGE, n, "CT")
    low, high = (-2048, 2047) if signed else (0, 4095)
    values = ramp(40, 60, low, high).astype(np.int32)
    raw = values & 0x0FFF
    raw[:20, :30] |= 0xA000
    dtype = np.int16 if signed else np.uint16
    attach_grey(ds, raw.astype(np.uint16).view(dtype), bits_stored=12, signed=signed)
    ds.WindowCenter, ds.WindowWidth = (0, 4096) if signed else (2048, 4096)
    return to_bytes(ds)


def high_bits_unsigned() -> bytes:
    return _high_bits(13, signed=False)


def high_bits_signed() -> bytes:
    return _high_bits(14, signed=True)


def big_endian() -> bytes:
    ds = new_dataset(MR_IMAGE, 6, "MR")
    arr = ramp(32, 48, 0, 3000).astype(np.uint16)
    attach_grey(ds, arr, bits_stored=16)
    ds.PixelData = arr.astype(">u2").tobytes()  # pydicom writes pixel bytes as given
    ds.WindowCenter, ds.WindowWidth = 1500, 2500
    return to_bytes(ds, syntax=ExplicitVRBigEndian)


def _no_preamble_dataset() -> Dataset:
    ds = new_dataset(MR_IMAGE, 7, "MR")
    attach_grey(ds, ramp(32, 32, 100, 900).astype(np.uint16), bits_stored=16)
    ds.WindowCenter, ds.WindowWidth = 500, 800
    return ds


def no_preamble() -> bytes:
    """File meta and dataset without the 128-byte preamble and without "DICM"."""
    return to_bytes(_no_preamble_dataset(), preamble=False)[4:]


def dicm_no_preamble() -> bytes:
    """The same file starting with "DICM" (the prefix kept, the preamble dropped)."""
    return to_bytes(_no_preamble_dataset(), preamble=False)


def no_meta_implicit() -> bytes:
    """A bare dataset (implicit VR little endian) with neither preamble nor file meta."""
    ds = new_dataset(MR_IMAGE, 8, "MR")
    attach_grey(ds, ramp(32, 40, 0, 255).astype(np.uint16), bits_stored=8)
    ds.WindowCenter, ds.WindowWidth = 128, 256
    del ds.file_meta
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, implicit_vr=True, little_endian=True)
    return buffer.getvalue()


def ct_padding() -> bytes:
    """CT without a window whose corners are Pixel Padding Value (outside the scan circle)."""
    ds = new_dataset(CT_IMAGE, 9, "CT")
    rows, columns = 64, 64
    arr = ramp(rows, columns, -1000, 1500)
    y, x = np.mgrid[0:rows, 0:columns]
    arr[(y - rows / 2) ** 2 + (x - columns / 2) ** 2 > (rows / 2) ** 2] = -3000
    attach_grey(ds, arr.astype(np.int16), bits_stored=16, signed=True)
    ds.PixelPaddingValue = -3000
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    return to_bytes(ds)


def multiframe() -> bytes:
    """Seven frames; frame k is the ramp shifted by 100*k, so each frame is recognisable."""
    ds = new_dataset(MR_IMAGE, 10, "MR")
    base = ramp(24, 30, 0, 1000)
    frames = np.stack([base + 100 * k for k in range(7)]).astype(np.uint16)
    attach_grey(ds, frames, bits_stored=16)
    ds.WindowCenter, ds.WindowWidth = 800, 1600
    return to_bytes(ds)


def one_bit() -> bytes:
    """A binary segmentation with odd sizes, so rows do not end on byte boundaries."""
    ds = new_dataset(SEGMENTATION, 11, "SEG")
    rows, columns = 29, 37
    y, x = np.mgrid[0:rows, 0:columns]
    mask = ((y - 14) ** 2 + (x - 18) ** 2 < 100) | (x == 3)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    packed = np.packbits(mask.astype(np.uint8).ravel(), bitorder="little").tobytes()
    ds.PixelData = packed + (b"\x00" if len(packed) % 2 else b"")
    return to_bytes(ds)


def deflated() -> bytes:
    ds = new_dataset(MR_IMAGE, 12, "MR")
    attach_grey(ds, ramp(40, 40, 0, 2000).astype(np.uint16), bits_stored=16)
    ds.WindowCenter, ds.WindowWidth = 1000, 2000
    return to_bytes(ds, syntax=DeflatedExplicitVRLittleEndian)


# --------------------------------------------------------------------------- colour


def planar_rgb() -> bytes:
    ds = new_dataset(SECONDARY_CAPTURE, 20, "OT")
    rows, columns = 30, 40
    y, x = np.mgrid[0:rows, 0:columns]
    rgb = np.stack([x * 255 // (columns - 1), y * 255 // (rows - 1), (x + y) % 256], axis=-1)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 1
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = rgb.astype(np.uint8).transpose(2, 0, 1).tobytes()
    return to_bytes(ds)


def _palette_base(n: int) -> Dataset:
    ds = new_dataset(US_IMAGE, n, "US")
    rows, columns = 32, 48
    y, x = np.mgrid[0:rows, 0:columns]
    indices = ((x * 5 + y * 3) % 256).astype(np.uint8)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = indices.tobytes()
    for colour in ("Red", "Green", "Blue"):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
    return ds


PALETTE_RED = np.arange(256, dtype=np.uint32) * 257  # 0 .. 65535
PALETTE_GREEN = (65535 - np.arange(256, dtype=np.uint32) * 257).astype(np.uint32)
PALETTE_BLUE = np.where(np.arange(256) < 128, 0x8000, 0xFF00).astype(np.uint32)


def palette() -> bytes:
    ds = _palette_base(21)
    for colour, lut in (("Red", PALETTE_RED), ("Green", PALETTE_GREEN), ("Blue", PALETTE_BLUE)):
        ds.add_new(
            {"Red": 0x00281201, "Green": 0x00281202, "Blue": 0x00281203}[colour],
            "OW",
            lut.astype("<u2").tobytes(),
        )
    return to_bytes(ds)


def palette_8bit_entries() -> bytes:
    """Palette with 8-bit entries (one per 16-bit word) starting at index 16.

    Indices below the first mapped value take the first entry (PS3.3 C.7.6.3.1.5).
    """
    ds = _palette_base(23)
    for colour in ("Red", "Green", "Blue"):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [240, 16, 8])
    index = np.arange(240)
    for tag, lut in (
        (0x00281201, index),
        (0x00281202, 239 - index),
        (0x00281203, (index * 7) % 256),
    ):
        ds.add_new(tag, "OW", lut.astype("<u2").tobytes())
    return to_bytes(ds)


def palette_segmented() -> bytes:
    """The same palette as ``palette()``, written as segmented LUTs (PS3.3 C.7.9.2).

    Red and green are one discrete entry plus one linear segment of 255 steps (exact
    integers: 257 per step); blue is two discrete runs written as linear segments.
    """
    ds = _palette_base(22)

    def segments(*words: int) -> bytes:
        return np.asarray(words, dtype="<u2").tobytes()

    red = segments(0, 1, 0, 1, 255, 65535)
    green = segments(0, 1, 65535, 1, 255, 0)
    blue = segments(0, 1, 0x8000, 1, 127, 0x8000, 0, 1, 0xFF00, 1, 127, 0xFF00)
    ds.add_new(0x00281221, "OW", red)
    ds.add_new(0x00281222, "OW", green)
    ds.add_new(0x00281223, "OW", blue)
    return to_bytes(ds)


# --------------------------------------------------------------------------- no image


def structured_report() -> bytes:
    ds = new_dataset(BASIC_TEXT_SR, 30, "SR")
    ds.ValueType = "CONTAINER"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    return to_bytes(ds)


# --------------------------------------------------------------------------- broken


def truncated() -> bytes:
    return monochrome1()[:-200]


def bomb_header() -> bytes:
    """65535 x 65535 x 10000 frames declared; eight bytes of pixel data present."""
    ds = new_dataset(SECONDARY_CAPTURE, 40, "OT")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 10000
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    ds["PixelData"].VR = "OB"
    return to_bytes(ds, syntax=UID("1.2.840.10008.1.2.4.50"))


def not_dicom() -> bytes:
    rng = np.random.default_rng(7)
    return b"%PDF-1.4 this is not an image\n" + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()


def empty() -> bytes:
    return b""


def inflate_bomb() -> bytes:
    """A deflated dataset whose 1 GiB pixel data of zeros compresses to about 1 MB.

    One fully flushed deflate block (16 MiB of zeros) is byte-aligned and self-contained,
    so repeating it 64 times is a valid raw deflate stream.
    """
    meta = new_dataset(SECONDARY_CAPTURE, 41, "OT").file_meta
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_file_meta_info(buffer, meta, enforce_standard=True)
    prefix = bytes(128) + b"DICM" + buffer.getvalue()
    element = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 1 << 30)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = compressor.compress(b"\x08\x00\x60\x00CS\x02\x00OT" + element)
    first += compressor.flush(zlib.Z_FULL_FLUSH)
    block_compressor = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = block_compressor.compress(bytes(16 << 20)) + block_compressor.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH)
    return prefix + first + block * 64 + tail


# --------------------------------------------------------------------------- PNG / JPEG


def _raster(img: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_grey8() -> bytes:
    return _raster(Image.fromarray(ramp(60, 90, 0, 255).astype(np.uint8)), "PNG")


def png_grey16() -> bytes:
    return _raster(Image.fromarray(ramp(50, 70, 0, 65535).astype(np.uint16)), "PNG")


def jpeg_rgb() -> bytes:
    rows, columns = 48, 64
    y, x = np.mgrid[0:rows, 0:columns]
    rgb = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).clip(0, 255).astype(np.uint8)
    return _raster(Image.fromarray(rgb), "JPEG", quality=95)


def png_truncated() -> bytes:
    """An 8-bit PNG cut in the middle of its image data."""
    data = _raster(Image.fromarray(ramp(200, 300, 0, 255).astype(np.uint8)), "PNG")
    return data[: len(data) // 2]


def jpeg_truncated() -> bytes:
    """A JPEG cut in the middle of its entropy-coded data."""
    data = jpeg_rgb()
    return data[: len(data) * 2 // 3]


def png_bomb() -> bytes:
    """A PNG whose header declares 100000 x 100000 pixels; the data is one tiny IDAT."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- the list


GENERATED: tuple[GeneratedCase, ...] = (
    GeneratedCase(
        name="gen_monochrome1.dcm",
        build=monochrome1,
        expect="image",
        about="MONOCHROME1, 12 of 16 bits, with a window",
    ),
    GeneratedCase(
        name="gen_monochrome1_no_window.dcm",
        build=monochrome1_no_window,
        expect="image",
        about="MONOCHROME1 without a window",
    ),
    GeneratedCase(
        name="gen_presentation_inverse.dcm",
        build=presentation_inverse,
        expect="image",
        about="MONOCHROME2 with Presentation LUT Shape INVERSE",
    ),
    GeneratedCase(
        name="gen_voi_lut_sequence.dcm",
        build=voi_lut_sequence,
        expect="image",
        about="VOI LUT Sequence (first mapped value 1000, 12-bit entries)",
    ),
    GeneratedCase(
        name="gen_voi_lut_signed.dcm",
        build=voi_lut_signed,
        expect="image",
        about="signed CT, VOI LUT from -1024 with 8-bit entries, implicit VR",
    ),
    GeneratedCase(
        name="gen_modality_lut.dcm",
        build=modality_lut_sequence,
        expect="image",
        about="Modality LUT Sequence from 500 with 16-bit entries, then a window",
    ),
    GeneratedCase(
        name="gen_sigmoid.dcm",
        build=sigmoid_window,
        expect="image",
        about="window with VOI LUT Function SIGMOID",
    ),
    GeneratedCase(
        name="gen_linear_exact.dcm",
        build=linear_exact_window,
        expect="image",
        about="window with VOI LUT Function LINEAR_EXACT",
    ),
    GeneratedCase(
        name="gen_signed_rescale.dcm",
        build=signed_rescale,
        expect="image",
        about="signed 12-bit CT with slope 0.5 and intercept 100",
    ),
    GeneratedCase(
        name="gen_high_bits_unsigned.dcm",
        build=high_bits_unsigned,
        expect="image",
        about="unsigned 12 of 16 bits, garbage in the 4 unused high bits",
    ),
    GeneratedCase(
        name="gen_high_bits_signed.dcm",
        build=high_bits_signed,
        expect="image",
        about="signed 12 of 16 bits, garbage in the 4 unused high bits",
    ),
    GeneratedCase(
        name="gen_big_endian.dcm",
        build=big_endian,
        expect="image",
        about="explicit VR big endian, 16 bit",
    ),
    GeneratedCase(
        name="gen_no_preamble.dcm",
        build=no_preamble,
        expect="image",
        about="Part 10 file without the 128-byte preamble",
    ),
    GeneratedCase(
        name="gen_dicm_no_preamble.dcm",
        build=dicm_no_preamble,
        expect="image",
        about='starts with "DICM" and the file meta: the preamble alone is missing',
    ),
    GeneratedCase(
        name="gen_no_meta_implicit.dcm",
        build=no_meta_implicit,
        expect="image",
        about="bare implicit VR dataset: no preamble, no file meta",
    ),
    GeneratedCase(
        name="gen_ct_padding.dcm",
        build=ct_padding,
        expect="image",
        about="CT without window, corners are Pixel Padding Value",
    ),
    GeneratedCase(
        name="gen_multiframe.dcm",
        build=multiframe,
        expect="image",
        about="seven frames, each offset by 100",
    ),
    GeneratedCase(
        name="gen_one_bit.dcm",
        build=one_bit,
        expect="image",
        about="1-bit segmentation with odd sizes",
    ),
    GeneratedCase(
        name="gen_deflated.dcm",
        build=deflated,
        expect="image",
        about="deflated explicit VR little endian",
    ),
    GeneratedCase(
        name="gen_planar_rgb.dcm",
        build=planar_rgb,
        expect="image",
        about="RGB with planar configuration 1",
    ),
    GeneratedCase(
        name="gen_palette.dcm",
        build=palette,
        expect="image",
        about="palette colour, 8-bit indices, 16-bit entries",
    ),
    GeneratedCase(
        name="gen_palette_8bit.dcm",
        build=palette_8bit_entries,
        expect="image",
        about="palette with 8-bit entries, first mapped index 16",
    ),
    GeneratedCase(
        name="gen_palette_segmented.dcm",
        build=palette_segmented,
        expect="image",
        about="segmented palette colour (same colours as gen_palette)",
    ),
    GeneratedCase(
        name="gen_sr.dcm",
        build=structured_report,
        expect="no-image",
        about="Basic Text SR: no pixel data",
    ),
    GeneratedCase(
        name="gen_truncated.dcm",
        build=truncated,
        expect="TRUNCATED_PIXEL_DATA",
        about="native pixel data cut short by 200 bytes",
    ),
    GeneratedCase(
        name="gen_bomb_header.dcm",
        build=bomb_header,
        expect="TOO_LARGE",
        about="tiny file declaring 65535 x 65535 x 10000 frames",
    ),
    GeneratedCase(
        name="gen_not_dicom.dcm",
        build=not_dicom,
        expect="NOT_AN_IMAGE",
        about="bytes of something else, named .dcm",
    ),
    GeneratedCase(name="gen_empty.dcm", build=empty, expect="NOT_AN_IMAGE", about="an empty file"),
    GeneratedCase(
        name="gen_inflate_bomb.dcm",
        build=inflate_bomb,
        expect="TOO_LARGE",
        about="deflated dataset inflating to 1 GiB",
    ),
    GeneratedCase(
        name="gen_grey8.png", build=png_grey8, expect="image", about="8-bit grayscale PNG"
    ),
    GeneratedCase(
        name="gen_grey16.png", build=png_grey16, expect="image", about="16-bit grayscale PNG"
    ),
    GeneratedCase(name="gen_rgb.jpg", build=jpeg_rgb, expect="image", about="baseline RGB JPEG"),
    GeneratedCase(
        name="gen_truncated.png",
        build=png_truncated,
        expect="TRUNCATED_PIXEL_DATA",
        about="PNG cut in half",
    ),
    GeneratedCase(
        name="gen_truncated.jpg",
        build=jpeg_truncated,
        expect="TRUNCATED_PIXEL_DATA",
        about="JPEG cut at two thirds",
    ),
    GeneratedCase(
        name="gen_png_bomb.png",
        build=png_bomb,
        expect="TOO_LARGE",
        about="PNG header declaring 100000 x 100000",
    ),
)


def generate(folder: Path) -> dict[str, Path]:
    """Write every generated case into ``folder``; return their paths by name."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for case in GENERATED:
        path = folder / case.name
        path.write_bytes(case.build())
        paths[case.name] = path
    return paths


# --------------------------------------------------------------------------- rendering fidelity
# Families of small files for the polarity, LUT and constant-image tests; a few of each
# family also join GENERATED (below) so that every corpus-wide suite reads them.

POLARITY_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2")
POLARITY_SHAPES = (None, "IDENTITY", "INVERSE")
POLARITY_VOIS = ("linear-window", "sigmoid-window", "voi-lut", "none")


def polarity_case(photometric: str, shape: str | None, voi: str) -> bytes:
    """A left-to-right ramp 0..4095 (12 bits) with a given polarity and VOI.

    ``shape`` is the Presentation LUT Shape (None: absent); ``voi`` is ``linear-window``
    or ``sigmoid-window`` (window 2048/4096 with that VOI LUT Function), ``voi-lut`` (a VOI
    LUT Sequence with a gamma curve) or ``none``.
    """
    n = 3000 + 100 * POLARITY_PHOTOMETRICS.index(photometric)
    n += 10 * POLARITY_SHAPES.index(shape) + POLARITY_VOIS.index(voi)
    ds = new_dataset(SECONDARY_CAPTURE, n, "DX")
    ds.PhotometricInterpretation = photometric
    columns = np.linspace(0, 4095, 64)
    arr = np.tile(columns, (24, 1))
    arr[8:16, 8:24] = 3500  # a bright square, so that a flip and an inversion differ
    attach_grey(ds, np.rint(arr).astype(np.uint16), bits_stored=12)
    if voi in ("linear-window", "sigmoid-window"):
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
        ds.VOILUTFunction = "LINEAR" if voi == "linear-window" else "SIGMOID"
    elif voi == "voi-lut":
        entries = 4096
        lut = np.rint(4095 * (np.arange(entries) / (entries - 1)) ** 0.7).astype("<u2")
        item = Dataset()
        item.LUTDescriptor = [entries, 0, 12]
        item.add_new(0x00283006, "OW", lut.tobytes())  # LUT Data
        ds.VOILUTSequence = Sequence([item])
    if shape is not None:
        ds.PresentationLUTShape = shape
    return to_bytes(ds)


LUT_PROBLEMS = (
    "empty-item",
    "no-item",
    "no-descriptor",
    "no-data",
    "empty-data",
    "two-valued-descriptor",
    "short-data",
    "long-data",
    "one-entry",
    "zero-bits",
    "wide-bits",
)


def _problem_lut_item(problem: str) -> Dataset:
    """A LUT item over stored values 0..4095 (12-bit entries) with ``problem``."""
    entries = 4096
    curve = np.rint(4095 * (np.arange(entries) / (entries - 1)) ** 0.8).astype("<u2")
    item = Dataset()
    if problem == "empty-item":
        return item
    descriptor = [entries, 0, 12]
    data = curve.tobytes()
    if problem == "two-valued-descriptor":
        descriptor = [entries, 0]
    elif problem == "empty-data":
        data = b""
    elif problem == "short-data":
        data = curve[:1000].tobytes()
    elif problem == "long-data":
        # The descriptor declares half of the entries the data holds.
        descriptor = [entries // 2, 0, 12]
    elif problem == "one-entry":
        descriptor, data = [1, 0, 12], np.array([3000], dtype="<u2").tobytes()
    elif problem in ("zero-bits", "wide-bits"):
        descriptor = [entries, 0, 0 if problem == "zero-bits" else 17]
    if problem != "no-descriptor":
        item.LUTDescriptor = descriptor
    if problem != "no-data":
        item.add_new(0x00283006, "OW", data)  # LUT Data
    return item


def lut_problem_case(sequence: str, problem: str, *, window: bool = False) -> bytes:
    """A ramp 0..4095 whose ``sequence`` (ModalityLUTSequence or VOILUTSequence) has
    ``problem`` (one of :data:`LUT_PROBLEMS`); ``window`` adds Window Center/Width."""
    n = 4000 + 400 * (sequence == "VOILUTSequence") + 20 * LUT_PROBLEMS.index(problem) + window
    ds = new_dataset(SECONDARY_CAPTURE, n, "OT")
    attach_grey(ds, ramp(32, 48, 0, 4095).astype(np.uint16), bits_stored=12)
    items = [] if problem == "no-item" else [_problem_lut_item(problem)]
    setattr(ds, sequence, Sequence(items))
    if window:
        ds.WindowCenter, ds.WindowWidth = 1500, 2500
    return to_bytes(ds)


def expected_lut_findings(sequence: str, problem: str, *, window: bool) -> set[str]:
    """The finding kinds rendering :func:`lut_problem_case` must report."""
    if sequence == "VOILUTSequence" and window:
        return set()  # the file's window comes first: the VOI LUT plays no part
    if problem in ("short-data", "long-data"):
        return {"lut-repaired"}
    if problem in ("zero-bits", "wide-bits"):
        # Only a VOI LUT's output depends on the bits per entry.
        return {"lut-repaired"} if sequence == "VOILUTSequence" else set()
    return {"lut-single-entry"} if problem == "one-entry" else {"lut-ignored"}


CONSTANT_CASES = (
    "label-one",
    "value-1000",
    "zero",
    "byte-255",
    "signed-air",
    "rescaled-air",
    "monochrome1-one",
    "bits-all-ones",
    "bits-all-zeros",
    "label-on-padding",
    "only-padding",
    "two-valued",
    "two-valued-5-9",
    "bits-two-valued",
)


def constant_case(kind: str) -> bytes:
    """An image whose values (apart from padding) are constant, or nearly: ``kind`` is one
    of :data:`CONSTANT_CASES`."""
    n = 5000 + CONSTANT_CASES.index(kind)
    # 480 pixels: 1-bit data fills whole words. DCMTK counts the pad bits that would
    # otherwise end the last byte as pixels in its min-max statistics (we do not).
    rows, columns = 16, 30
    half = np.arange(columns)[None, :].repeat(rows, 0) >= columns // 2
    if kind.startswith("bits-"):
        masks = {
            "bits-all-ones": np.ones((rows, columns), bool),
            "bits-all-zeros": np.zeros((rows, columns), bool),
        }
        return _bit_mask(n, masks.get(kind, half))
    ds = new_dataset(SECONDARY_CAPTURE, n, "OT")
    signed = kind in ("signed-air", "rescaled-air")
    arrays = {
        "label-one": np.ones((rows, columns), np.uint16),
        "value-1000": np.full((rows, columns), 1000, np.uint16),
        "zero": np.zeros((rows, columns), np.uint16),
        "byte-255": np.full((rows, columns), 255, np.uint8),
        "signed-air": np.full((rows, columns), -1000, np.int16),
        "rescaled-air": np.full((rows, columns), 24, np.int16),
        "monochrome1-one": np.ones((rows, columns), np.uint16),
        "label-on-padding": half.astype(np.uint16),
        "only-padding": np.zeros((rows, columns), np.uint16),
        "two-valued": half.astype(np.uint16),
        "two-valued-5-9": np.where(half, 9, 5).astype(np.uint16),
    }
    arr = arrays[kind]
    if kind == "monochrome1-one":
        ds.PhotometricInterpretation = "MONOCHROME1"
    attach_grey(ds, arr, bits_stored=arr.dtype.itemsize * 8, signed=signed)
    if kind == "rescaled-air":
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    if kind in ("label-on-padding", "only-padding"):
        ds.PixelPaddingValue = 0
    return to_bytes(ds)


def _bit_mask(n: int, mask: np.ndarray) -> bytes:
    ds = new_dataset(SEGMENTATION, n, "SEG")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = mask.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    packed = np.packbits(mask.astype(np.uint8).ravel(), bitorder="little").tobytes()
    ds.PixelData = packed + (b"\x00" if len(packed) % 2 else b"")
    return to_bytes(ds)


# Appended rather than listed above, so that each family stays in one place.
GENERATED = (
    *GENERATED,
    GeneratedCase(
        name="gen_monochrome1_inverse.dcm",
        build=lambda: polarity_case("MONOCHROME1", "INVERSE", "linear-window"),
        expect="image",
        about="MONOCHROME1 with Presentation LUT Shape INVERSE (inverted once)",
    ),
    GeneratedCase(
        name="gen_monochrome1_identity_voi_lut.dcm",
        build=lambda: polarity_case("MONOCHROME1", "IDENTITY", "voi-lut"),
        expect="image",
        about="MONOCHROME1 with Presentation LUT Shape IDENTITY and a VOI LUT Sequence",
    ),
    GeneratedCase(
        name="gen_modality_lut_empty_item.dcm",
        build=lambda: lut_problem_case("ModalityLUTSequence", "empty-item"),
        expect="image",
        about="Modality LUT Sequence with an empty item (ignored, with a finding)",
    ),
    GeneratedCase(
        name="gen_voi_lut_empty_item.dcm",
        build=lambda: lut_problem_case("VOILUTSequence", "empty-item"),
        expect="image",
        about="VOI LUT Sequence with an empty item (ignored, with a finding)",
    ),
    GeneratedCase(
        name="gen_label_map_one_label.dcm",
        build=lambda: constant_case("label-one"),
        expect="image",
        about="a label map holding one label only (shown white)",
    ),
    GeneratedCase(
        name="gen_one_bit_all_ones.dcm",
        build=lambda: constant_case("bits-all-ones"),
        expect="image",
        about="a 1-bit frame of ones only (shown white)",
    ),
)
# --------------------------------------------------------------------------- decoding fidelity
# Files for the kinds of file real archives hold that the reader once refused or misread,
# used by the decoding fidelity unit tests and the decoding oracle integration tests. They
# are kept out of GENERATED: several need an oracle that the rendering suite lacks.

JPEG_LOSSLESS_SV1 = UID("1.2.840.10008.1.2.4.70")


def grey_dataset(n: int, arr: np.ndarray, *, bits_stored: int, modality: str = "OT") -> Dataset:
    """A secondary-capture dataset holding ``arr`` as native grayscale."""
    ds = new_dataset(SECONDARY_CAPTURE, n, modality)
    attach_grey(ds, arr, bits_stored=bits_stored)
    return ds


def rle_bytes(n: int, arr: np.ndarray, *, bits_stored: int) -> bytes:
    """``arr`` (frames x rows x columns, or rows x columns) as an RLE Lossless file."""
    from pydicom.uid import RLELossless

    ds = grey_dataset(n, arr, bits_stored=bits_stored)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    return to_bytes(ds, syntax=RLELossless)


def pillow_jpeg(arr: np.ndarray, *, progressive: bool = False) -> bytes:
    """An 8-bit grayscale JPEG codestream of ``arr`` written by Pillow (quality 90)."""
    buffer = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8), mode="L").save(
        buffer, format="JPEG", quality=90, progressive=progressive
    )
    return buffer.getvalue()


def jpeg_segment(codestream: bytes, markers: tuple[int, ...]) -> tuple[int, int]:
    """(offset, marker) of the first marker segment among ``markers`` in ``codestream``."""
    position = 2
    while position + 4 <= len(codestream):
        marker = codestream[position + 1]
        if marker in markers:
            return position, marker
        if marker == 0xDA:
            break
        position += 2 + int.from_bytes(codestream[position + 2 : position + 4], "big")
    raise ValueError("no such marker segment before the first scan")


def as_extended(codestream: bytes) -> bytes:
    """A baseline (SOF0) codestream relabelled extended sequential (SOF1): same coding."""
    offset, _ = jpeg_segment(codestream, (0xC0,))
    return codestream[: offset + 1] + b"\xc1" + codestream[offset + 2 :]


def as_hierarchical(codestream: bytes) -> bytes:
    """``codestream`` (SOF1-3, or SOF9-11 arithmetic) as a hierarchical image of its frame.

    A DHP segment (ISO 10918-1 B.3.2) with the frame's own size and components goes
    after SOI: the smallest hierarchical progression, which libjpeg decodes and IJG
    (DCMTK, GDCM) refuses.
    """
    offset, _ = jpeg_segment(codestream, (0xC1, 0xC2, 0xC3, 0xC9, 0xCA, 0xCB))
    length = int.from_bytes(codestream[offset + 2 : offset + 4], "big")
    frame = bytearray(codestream[offset + 4 : offset + 2 + length])
    for k in range(frame[5]):
        frame[6 + 3 * k + 2] = 0  # DHP: quantisation table selectors are 0
    return (
        codestream[:2] + b"\xff\xde" + codestream[offset + 2 : offset + 4] + frame + codestream[2:]
    )


def jpeg_file(n: int, arr: np.ndarray, codestreams: list[bytes], syntax: UID) -> bytes:
    """A file of ``syntax`` whose frames are ``codestreams`` (attributes from ``arr``)."""
    bits = 8 if arr.dtype == np.uint8 else 16
    ds = grey_dataset(n, arr, bits_stored=12 if bits == 16 else 8)
    ds.PixelData = encapsulate(codestreams)
    ds["PixelData"].VR = "OB"
    if len(codestreams) > 1:
        ds.NumberOfFrames = len(codestreams)
    return to_bytes(ds, syntax=syntax)


def with_repeated_meta(data: bytes, syntax: UID, *, encoding: str = "explicit-le") -> bytes:
    """``data`` with (0002,0010) = ``syntax`` repeated at the start of its dataset.

    ``encoding`` is how the repeated element is written: "explicit-le", "implicit-le" or
    "explicit-be" (in real files, the dataset's own encoding).
    """
    length = struct.unpack("<I", data[140:144])[0]
    end = 144 + length  # after the file meta group, whose length (0002,0000) states
    value = str(syntax).encode() + (b"\0" if len(str(syntax)) % 2 else b"")
    if encoding == "implicit-le":
        element = struct.pack("<HHI", 2, 0x10, len(value)) + value
    elif encoding == "explicit-be":
        element = struct.pack(">HH", 2, 0x10) + b"UI" + struct.pack(">H", len(value)) + value
    else:
        element = struct.pack("<HH", 2, 0x10) + b"UI" + struct.pack("<H", len(value)) + value
    return data[:end] + element + data[end:]


SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def without_sequence_delimiter(data: bytes, *, keep: int = 0) -> bytes:
    """An encapsulated file whose closing sequence delimiter is gone (``keep`` bytes stay)."""
    if not data.endswith(SEQUENCE_DELIMITER):
        raise ValueError("the file does not end with a sequence delimiter")
    return data[: len(data) - 8 + keep]


def big_endian_with_un_sequence(n: int, arr: np.ndarray, *, nested: bool = False) -> bytes:
    """An explicit VR big endian file holding an undefined-length UN private sequence.

    Its items are implicit VR little endian (PS3.5 6.2.2), one of them with a nested
    undefined-length sequence. With ``nested`` the UN element sits inside an item of a
    big endian private SQ rather than at the top level.
    """
    ds = grey_dataset(n, arr, bits_stored=12, modality="CT")
    ds.PixelData = arr.astype(">u2").tobytes()
    ds.add_new(0x00090010, "LO", "DICOMLENS TEST")
    data = to_bytes(ds, syntax=ExplicitVRBigEndian)
    start = data.index(struct.pack(">HH", 9, 0x10) + b"LO")
    after = start + 8 + struct.unpack(">H", data[start + 6 : start + 8])[0]
    undefined = 0xFFFFFFFF
    inner_item = (
        struct.pack("<HHI", 0xFFFE, 0xE000, undefined)
        + struct.pack("<HHI", 0x0009, 0x1012, 4)
        + b"ABCD"
        + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    )
    item = (
        struct.pack("<HHI", 0xFFFE, 0xE000, undefined)
        + struct.pack("<HHI", 0x0009, 0x1011, 8)
        + b"ABCDEFGH"
        + struct.pack("<HHI", 0x0009, 0x1013, undefined)  # a nested sequence
        + inner_item
        + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        + struct.pack("<HHI", 0x0018, 0x0050, 4)
        + b"1.5 "
        + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    )
    un = (
        struct.pack(">HH", 9, 0x1010)
        + b"UN\0\0"
        + struct.pack(">I", undefined)
        + item
        + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    )
    if nested:
        outer_item = struct.pack(">HHI", 0xFFFE, 0xE000, undefined) + un.replace(
            struct.pack(">HH", 9, 0x1010), struct.pack(">HH", 9, 0x1014), 1
        )
        outer_item += struct.pack(">HHI", 0xFFFE, 0xE00D, 0)
        un = (
            struct.pack(">HH", 9, 0x1010)
            + b"SQ\0\0"
            + struct.pack(">I", undefined)
            + outer_item
            + struct.pack(">HHI", 0xFFFE, 0xE0DD, 0)
        )
    return data[:after] + un + data[after:]


def pack_12_bit(values: np.ndarray) -> bytes:
    """Values < 4096 packed two in three bytes, as ACR-NEMA BitsAllocated 12 stores them.

    A little-endian bit stream, lowest bits first: ``v0 & 0xFF``, ``v0 >> 8 | (v1 & 0xF) << 4``,
    ``v1 >> 4``; an odd count is padded with a zero value.
    """
    flat = [int(v) for v in values.ravel()]
    if len(flat) % 2:
        flat.append(0)
    out = bytearray()
    for first, second in zip(flat[0::2], flat[1::2], strict=True):
        out += bytes([first & 0xFF, (first >> 8) | (second & 0x0F) << 4, second >> 4])
    return bytes(out)


def _implicit(tag: int, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0" if tag >> 16 == 0x7FE0 else b" "
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def acr_nema(
    values: np.ndarray, *, bits_allocated: int = 12, frames: int = 1, photometric: bool = False
) -> bytes:
    """An ACR-NEMA style dataset: implicit VR, no preamble, no file meta, no SOP class.

    ``values`` (frames x rows x columns, or rows x columns) are stored packed for
    ``bits_allocated`` 12. No Photometric Interpretation unless ``photometric``.
    """
    rows, columns = values.shape[-2:]
    unsigned = struct.Struct("<H").pack
    data = _implicit(0x00080010, b"ACR-NEMA 2.0") + _implicit(0x00080060, b"CT")
    data += _implicit(0x00280002, unsigned(1)) if photometric else b""
    data += _implicit(0x00280004, b"MONOCHROME2") if photometric else b""
    data += _implicit(0x00280008, str(frames).encode()) if frames > 1 else b""
    data += _implicit(0x00280010, unsigned(rows)) + _implicit(0x00280011, unsigned(columns))
    stored = 12 if bits_allocated in (12, 16) else 8
    for tag, value in (
        (0x00280100, bits_allocated),
        (0x00280101, stored),
        (0x00280102, stored - 1),
    ):
        data += _implicit(tag, unsigned(value))
    data += _implicit(0x00280103, unsigned(0))
    if bits_allocated == 12:
        pixels = pack_12_bit(values)
    else:
        pixels = values.astype(f"<u{bits_allocated // 8}").tobytes()
    return data + _implicit(0x7FE00010, pixels)


def lost_pixel_data(n: int, arr: np.ndarray, *, group: int = 0x0029) -> bytes:
    """An image whose damaged private sequence (its length runs past the end of the file)
    swallows the rest of the dataset, pixel data included."""
    ds = grey_dataset(n, arr, bits_stored=12, modality="CT")
    data = to_bytes(ds)
    at = data.index(b"\xe0\x7f\x10\x00") if group > 0x0028 else data.index(b"\x10\x00\x10\x00")
    creator = struct.pack("<HH", group, 0x10) + b"LO" + struct.pack("<H", 14) + b"DICOMLENS TEST"
    damaged = (
        struct.pack("<HH", group, 0x1010)
        + b"SQ\0\0"
        + struct.pack("<I", 0x00100000)
        + struct.pack("<HHI", 0xFFFE, 0xE000, 0x00100000 - 8)
    )
    return data[:at] + creator + damaged + data[at:]


def header_only(n: int, arr: np.ndarray) -> bytes:
    """An image file cut just before its pixel data element."""
    data = to_bytes(grey_dataset(n, arr, bits_stored=12, modality="CT"))
    return data[: data.index(b"\xe0\x7f\x10\x00")]
