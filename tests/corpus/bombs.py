"""Bombs: small files that claim huge resources, and a few valid but hostile shapes.

Every builder returns the bytes of one file, made at test time: pydicom writes the DICOM
wrappers, the installed encoders (Pillow, pylibjpeg-openjpeg, pydicom's RLE encoder) write
small real codestreams whose header bytes are then patched, and the rest (a lossless JPEG
encoder, zlib bombs, deep sequences) is built here byte by byte. No file holds patient data.

``BombCase.outcomes`` says how processing may end: the stable failure codes allowed, plus
``"COMPLETED"`` where a sane reader may also accept the file (a valid but thin image, a LUT it
ignores with a finding). Never INTERNAL, never DECODE_TIMEOUT: a bomb must be refused from its
header, not decoded until the time limit.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openjpeg
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    HTJ2KLossless,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from corpus.generate import SECONDARY_CAPTURE, attach_grey, jpeg_segment, new_dataset, to_bytes

SIDE = 64  # the size every DICOM wrapper declares
CLAIM_GREY = 20_000  # a codestream header's claim, one sample
CLAIM_COLOUR = 65_535  # a codestream header's claim, three samples

# Stable failure codes a bomb may end with. Not INTERNAL (a bug), not DECODE_TIMEOUT (the
# header was believed and decoding ran into the time limit).
INVALID = frozenset({"INVALID_DICOM"})
REFUSED = frozenset({"INVALID_DICOM", "TOO_LARGE"})
SHORT = frozenset({"INVALID_DICOM", "TOO_LARGE", "TRUNCATED_PIXEL_DATA"})
COMPLETED = "COMPLETED"


@dataclass(frozen=True, kw_only=True)
class BombCase:
    """One hostile file: its name, content type, builder, allowed outcomes and what it claims."""

    name: str
    build: Callable[[], bytes]
    outcomes: frozenset[str]
    about: str

    @property
    def content_type(self) -> str:
        """The content type an uploader would declare for this file."""
        suffix = Path(self.name).suffix
        return {".png": "image/png", ".jpg": "image/jpeg"}.get(suffix, "application/dicom")

    @property
    def is_dicom(self) -> bool:
        """Whether the file is a DICOM file (de-identification applies)."""
        return self.content_type == "application/dicom"


# --------------------------------------------------------------------------- pixel sources


def _grey(rows: int = SIDE, columns: int = SIDE) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:columns]
    return ((x * 3 + y * 2) % 256).astype(np.uint8)


def _colour() -> np.ndarray:
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    return np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).clip(0, 255).astype(np.uint8)


def _pillow_jpeg(arr: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # 4:4:4 so that a colour frame is YBR_FULL with one sample per pixel and component
    Image.fromarray(arr).save(buffer, format="JPEG", quality=90, subsampling=0)
    return buffer.getvalue()


# --------------------------------------------------------------------------- lossless JPEG


def _huffman_table() -> tuple[bytes, dict[int, tuple[int, int]]]:
    """A DC table for categories 0-16, all five-bit codes (none all ones): DHT payload, codes."""
    bits = bytes([0, 0, 0, 0, 17] + [0] * 11)
    values = bytes(range(17))
    codes = {category: (category, 5) for category in range(17)}
    return bytes([0x00]) + bits + values, codes


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._count = 0

    def put(self, value: int, length: int) -> None:
        for shift in range(length - 1, -1, -1):
            self._acc = (self._acc << 1) | ((value >> shift) & 1)
            self._count += 1
            if self._count == 8:
                self.out.append(self._acc)
                if self._acc == 0xFF:
                    self.out.append(0)  # byte stuffing (ISO 10918-1 F.1.2.3)
                self._acc = self._count = 0

    def flush(self) -> bytes:
        if self._count:
            self.put((1 << (8 - self._count)) - 1, 8 - self._count)
        return bytes(self.out)


def lossless_jpeg(arr: np.ndarray, *, precision: int = 8) -> bytes:
    """``arr`` (rows x columns, or rows x columns x 3) as a Process 14 SV1 JPEG (SOF3).

    First-order prediction (ISO 10918-1 H.1.2.1): the first sample of the image from
    2^(P-1), the rest of the first line from the left, each line's first sample from above.
    """
    samples = arr.reshape(arr.shape[0], arr.shape[1], -1).astype(np.int64)
    rows, columns, components = samples.shape
    dht, codes = _huffman_table()
    writer = _BitWriter()
    for y in range(rows):
        for x in range(columns):
            for c in range(components):
                if x == 0 and y == 0:
                    predicted = 1 << (precision - 1)
                elif y == 0:
                    predicted = int(samples[y, x - 1, c])
                elif x == 0:
                    predicted = int(samples[y - 1, x, c])
                else:
                    predicted = int(samples[y, x - 1, c])
                diff = (int(samples[y, x, c]) - predicted) % 65536
                if diff >= 32768:
                    diff -= 65536
                category = abs(diff).bit_length()
                writer.put(*codes[category])
                if 0 < category < 16:
                    writer.put(diff if diff > 0 else diff + (1 << category) - 1, category)
    frame = struct.pack(">BHHB", precision, rows, columns, components)
    frame += b"".join(bytes([c + 1, 0x11, 0]) for c in range(components))
    scan = bytes([components]) + b"".join(bytes([c + 1, 0x00]) for c in range(components))
    scan += bytes([1, 0, 0])  # Ss = predictor 1, Se = 0, Ah/Al = 0
    return (
        b"\xff\xd8"
        + _segment(0xC3, frame)
        + _segment(0xC4, dht)
        + _segment(0xDA, scan)
        + writer.flush()
        + b"\xff\xd9"
    )


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


# --------------------------------------------------------------------------- header patching


SOF_MARKERS = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xF7)


def with_jpeg_size(codestream: bytes, rows: int, columns: int) -> bytes:
    """``codestream`` (JPEG or JPEG-LS) whose SOF/SOF55 claims ``rows`` x ``columns``."""
    offset, _ = jpeg_segment(codestream, SOF_MARKERS)
    return codestream[: offset + 5] + struct.pack(">HH", rows, columns) + codestream[offset + 9 :]


def with_j2k_size(codestream: bytes, rows: int, columns: int) -> bytes:
    """``codestream`` (J2K) whose SIZ claims ``rows`` x ``columns`` in one tile of that size."""
    offset = codestream.index(b"\xff\x51")
    siz = bytearray(codestream)
    # Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz follow Lsiz and Rsiz (ISO 15444-1 A.5.1)
    struct.pack_into(">IIIIII", siz, offset + 6, columns, rows, 0, 0, columns, rows)
    return bytes(siz)


def _jpeg_ls_codestream(name: str) -> bytes:
    ds = dcmread(str(get_testdata_file(name)))
    return next(generate_frames(ds.PixelData, number_of_frames=1))


# --------------------------------------------------------------------------- DICOM wrappers


def _wrapper(n: int, *, colour: bool, photometric: str | None = None, bits: int = 8) -> Dataset:
    ds = new_dataset(SECONDARY_CAPTURE, 5000 + n, "OT")
    ds.Rows = ds.Columns = SIDE
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric or ("RGB" if colour else "MONOCHROME2")
    if colour:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = 8 if bits <= 8 else 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, 0
    return ds


def encapsulated(ds: Dataset, frames: list[bytes], syntax: UID) -> bytes:
    """``ds`` with ``frames`` as its encapsulated Pixel Data, written in ``syntax``."""
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
    return to_bytes(ds, syntax=syntax)


def _codestream_bomb(n: int, codestream: bytes, syntax: UID, **wrapper: object) -> bytes:
    return encapsulated(_wrapper(n, **wrapper), [codestream], syntax)  # type: ignore[arg-type]


def jpeg_baseline_grey() -> bytes:
    stream = with_jpeg_size(_pillow_jpeg(_grey()), CLAIM_GREY, CLAIM_GREY)
    return _codestream_bomb(1, stream, JPEGBaseline8Bit, colour=False)


def jpeg_baseline_colour() -> bytes:
    stream = with_jpeg_size(_pillow_jpeg(_colour()), CLAIM_COLOUR, CLAIM_COLOUR)
    return _codestream_bomb(2, stream, JPEGBaseline8Bit, colour=True, photometric="YBR_FULL")


def jpeg_lossless_grey() -> bytes:
    stream = with_jpeg_size(lossless_jpeg(_grey()), CLAIM_GREY, CLAIM_GREY)
    return _codestream_bomb(3, stream, JPEGLosslessSV1, colour=False)


def jpeg_lossless_colour() -> bytes:
    stream = with_jpeg_size(lossless_jpeg(_colour()), CLAIM_COLOUR, CLAIM_COLOUR)
    return _codestream_bomb(4, stream, JPEGLosslessSV1, colour=True)


def jpeg_ls_grey() -> bytes:
    # pydicom's 64 x 64 16-bit JPEG-LS lossless frame (no encoder is installed)
    stream = _jpeg_ls_codestream("MR_small_jpeg_ls_lossless.dcm")
    stream = with_jpeg_size(stream, CLAIM_GREY, CLAIM_GREY)
    return _codestream_bomb(5, stream, JPEGLSLossless, colour=False, bits=16)


def jpeg_ls_colour() -> bytes:
    # pydicom's 100 x 100 RGB near-lossless frame, in a 64 x 64 wrapper
    stream = _jpeg_ls_codestream("SC_rgb_jls_lossy_line.dcm")
    stream = with_jpeg_size(stream, CLAIM_COLOUR, CLAIM_COLOUR)
    return _codestream_bomb(6, stream, JPEGLSNearLossless, colour=True)


def _j2k(arr: np.ndarray) -> bytes:
    colour = arr.ndim == 3
    return bytes(openjpeg.encode(arr, photometric_interpretation=1 if colour else 2))


def j2k_grey() -> bytes:
    stream = with_j2k_size(_j2k(_grey()), CLAIM_GREY, CLAIM_GREY)
    return _codestream_bomb(7, stream, JPEG2000Lossless, colour=False)


def j2k_colour() -> bytes:
    stream = with_j2k_size(_j2k(_colour()), CLAIM_COLOUR, CLAIM_COLOUR)
    return _codestream_bomb(8, stream, JPEG2000Lossless, colour=True, photometric="YBR_RCT")


def htj2k_grey() -> bytes:
    # A Part 1 codestream under the HTJ2K syntax, which admits it (no HT encoder is installed)
    stream = with_j2k_size(_j2k(_grey()), CLAIM_GREY, CLAIM_GREY)
    return _codestream_bomb(9, stream, HTJ2KLossless, colour=False)


def htj2k_colour() -> bytes:
    stream = with_j2k_size(_j2k(_colour()), CLAIM_COLOUR, CLAIM_COLOUR)
    return _codestream_bomb(10, stream, HTJ2KLossless, colour=True, photometric="YBR_RCT")


# --------------------------------------------------------------------------- RLE


def _rle_frame() -> bytes:
    ds = _wrapper(11, colour=False)
    ds.PixelData = _grey().tobytes()
    ds.compress(RLELossless, encoding_plugin="pydicom")
    return next(generate_frames(ds.PixelData, number_of_frames=1))


def _rle_bomb(n: int, header: bytes) -> bytes:
    frame = _rle_frame()
    return encapsulated(_wrapper(n, colour=False), [header + frame[64:]], RLELossless)


def rle_fifteen_segments() -> bytes:
    """15 segments declared where 8-bit grey has one; all offsets point at the data."""
    return _rle_bomb(12, struct.pack("<16I", 15, *([64] * 15)))


def rle_no_segments() -> bytes:
    return _rle_bomb(13, struct.pack("<16I", 0, *([0] * 15)))


def rle_offset_past_end() -> bytes:
    return _rle_bomb(14, struct.pack("<16I", 1, 0xFFFFFFF0, *([0] * 14)))


# --------------------------------------------------------------------------- inflation


def _zero_blocks(total: int, *, block: int = 16 << 20) -> bytes:
    """A byte-aligned raw deflate of ``total`` zero bytes (no final block)."""
    parts = []
    whole, rest = divmod(total, block)
    if whole:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        one = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
        parts.append(one * whole)
    if rest:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        parts.append(compressor.compress(bytes(rest)) + compressor.flush(zlib.Z_FULL_FLUSH))
    return b"".join(parts)


def _final_block() -> bytes:
    return zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH)


def deflate_bomb() -> bytes:
    """Deflated Explicit VR LE whose dataset inflates to 4 GiB (about 4 MB on disk)."""
    ds = _wrapper(15, colour=False)
    meta = ds.file_meta
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_file_meta_info(buffer, meta, enforce_standard=True)
    prefix = bytes(128) + b"DICM" + buffer.getvalue()
    length = 0xFFFF_FFF0
    modality = b"\x08\x00\x60\x00CS\x02\x00OT"
    header = modality + struct.pack("<HH2sHI", 0x7FE0, 0x10, b"OB", 0, length)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    return prefix + first + _zero_blocks(length) + _final_block()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb() -> bytes:
    """A PNG whose IHDR claims 65535 x 65535 grey and whose IDAT inflates to those 4 GiB."""
    side = 65_535
    total = side * (side + 1)  # a filter byte per row; every byte is zero
    adler = ((total % 65521) << 16) | 1  # adler32 of zeros: A = 1, B = n mod 65521
    stream = b"\x78\xda" + _zero_blocks(total) + _final_block() + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", stream)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_file_bomb() -> bytes:
    """A 64 x 64 colour JPEG file whose SOF claims 65535 x 65535."""
    return with_jpeg_size(_pillow_jpeg(_colour()), CLAIM_COLOUR, CLAIM_COLOUR)


# --------------------------------------------------------------------------- native claims


def _native(n: int, *, rows: int, columns: int, frames: int, bits: int, data: int) -> bytes:
    ds = _wrapper(n, colour=False, bits=bits)
    ds.Rows, ds.Columns = rows, columns
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = bytes(data)
    ds["PixelData"].VR = "OW" if bits > 8 else "OB"
    return to_bytes(ds)


def native_huge_rows_columns() -> bytes:
    return _native(16, rows=65_535, columns=65_535, frames=1, bits=16, data=128)


def native_huge_frames() -> bytes:
    return _native(17, rows=SIDE, columns=SIDE, frames=2_147_483_647, bits=8, data=SIDE * SIDE)


def native_huge_everything() -> bytes:
    return _native(18, rows=30_000, columns=30_000, frames=10_000, bits=8, data=4096)


# --------------------------------------------------------------------------- LUTs


def _lut_item(descriptor: list[int], data: bytes) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = descriptor
    item.LUTData = data
    item["LUTData"].VR = "OW"
    return item


def huge_lut_descriptors() -> bytes:
    """Modality and VOI LUTs claiming 65536 entries of 65535 bits, holding two entries."""
    ds = new_dataset(SECONDARY_CAPTURE, 5019, "OT")
    arr = (_grey().astype(np.uint16) * 16).astype(np.uint16)
    attach_grey(ds, arr, bits_stored=12)
    modality = _lut_item([0, 0, 65_535], b"\x00\x00\xff\xff")
    modality.ModalityLUTType = "HU"
    ds.ModalityLUTSequence = Sequence([modality])
    ds.VOILUTSequence = Sequence([_lut_item([0, 65_535, 65_535], b"\x00\x00\xff\xff")])
    return to_bytes(ds)


def huge_palette_descriptors() -> bytes:
    """PALETTE COLOR whose three descriptors claim 65536 entries; each holds two."""
    ds = _wrapper(20, colour=False, photometric="PALETTE COLOR")
    ds.PixelData = _grey().tobytes()
    for colour in ("Red", "Green", "Blue"):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [0, 65_535, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", b"\x00\x00\xff\xff")
        ds[f"{colour}PaletteColorLookupTableData"].VR = "OW"
    return to_bytes(ds)


# --------------------------------------------------------------------------- structure


def _insert_before_pixel_data(data: bytes, element: bytes) -> bytes:
    """``data`` (little endian) with ``element`` spliced in before (7FE0,0010)."""
    at = data.rindex(b"\xe0\x7f\x10\x00")
    return data[:at] + element + data[at:]


def _native_grey_file(n: int, syntax: UID | None = None) -> bytes:
    ds = _wrapper(n, colour=False)
    ds.PixelData = _grey().tobytes()
    return to_bytes(ds) if syntax is None else to_bytes(ds, syntax=syntax)


def deeply_nested_sequences(levels: int = 10_000) -> bytes:
    """A valid 64 x 64 image whose Content Sequence nests ``levels`` deep (undefined lengths)."""
    sequence = b"\x40\x00\x30\xa7SQ\x00\x00\xff\xff\xff\xff"  # (0040,A730) SQ, undefined length
    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    item_end = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
    sequence_end = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    nested = (sequence + item) * levels + (item_end + sequence_end) * levels
    return _insert_before_pixel_data(_native_grey_file(21), nested)


def element_length_fffffffe() -> bytes:
    """Implicit VR LE: Image Comments (0020,4000) whose length is 0xFFFFFFFE, past the file."""
    data = _native_grey_file(22, syntax=ImplicitVRLittleEndian)
    return _insert_before_pixel_data(data, struct.pack("<HHI", 0x0020, 0x4000, 0xFFFF_FFFE))


def many_fragments_one_frame() -> bytes:
    """One valid JPEG frame cut into 2-byte fragments, then 300000 more 2-byte fragments."""
    stream = _pillow_jpeg(_grey())
    if len(stream) % 2:
        stream += b"\x00"
    pieces = [stream[i : i + 2] for i in range(0, len(stream), 2)] + [b"\x00\x00"] * 300_000
    ds = _wrapper(23, colour=False)
    items = [struct.pack("<HHI", 0xFFFE, 0xE000, 0)]  # an empty basic offset table
    items += [struct.pack("<HHI", 0xFFFE, 0xE000, 2) + piece for piece in pieces]
    ds.PixelData = b"".join(items)  # the writer adds the sequence delimiter
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return to_bytes(ds, syntax=JPEGBaseline8Bit)


def many_fragments_many_frames() -> bytes:
    """300000 frames declared, each a 2-byte fragment (an EOI marker)."""
    ds = _wrapper(24, colour=False)
    return encapsulated(ds, [b"\xff\xd9"] * 300_000, JPEGBaseline8Bit)


def thin(rows: int, columns: int, n: int) -> bytes:
    """A valid ``rows`` x ``columns`` 8-bit image (stripes, so that there is something to see)."""
    ds = new_dataset(SECONDARY_CAPTURE, 5000 + n, "OT")
    arr = np.zeros((rows, columns), dtype=np.uint8)
    arr.flat[::3] = 255
    attach_grey(ds, arr, bits_stored=8)
    return to_bytes(ds)


# --------------------------------------------------------------------------- the list


def _codestream_case(name: str, build: Callable[[], bytes], claim: str) -> BombCase:
    return BombCase(
        name=name, build=build, outcomes=REFUSED, about=f"a 64 x 64 DICOM whose {claim}"
    )


BOMBS: tuple[BombCase, ...] = (
    _codestream_case("jpeg_baseline_20000.dcm", jpeg_baseline_grey, "SOF0 claims 20000^2"),
    _codestream_case("jpeg_baseline_65535x3.dcm", jpeg_baseline_colour, "SOF0 claims 65535^2 x3"),
    _codestream_case("jpeg_lossless_20000.dcm", jpeg_lossless_grey, "SOF3 claims 20000^2"),
    _codestream_case("jpeg_lossless_65535x3.dcm", jpeg_lossless_colour, "SOF3 claims 65535^2 x3"),
    _codestream_case("jpeg_ls_20000.dcm", jpeg_ls_grey, "SOF55 claims 20000^2"),
    _codestream_case("jpeg_ls_65535x3.dcm", jpeg_ls_colour, "SOF55 claims 65535^2 x3"),
    _codestream_case("j2k_20000.dcm", j2k_grey, "J2K SIZ claims 20000^2"),
    _codestream_case("j2k_65535x3.dcm", j2k_colour, "J2K SIZ claims 65535^2 x3"),
    _codestream_case("htj2k_20000.dcm", htj2k_grey, "HTJ2K SIZ claims 20000^2"),
    _codestream_case("htj2k_65535x3.dcm", htj2k_colour, "HTJ2K SIZ claims 65535^2 x3"),
    BombCase(
        name="rle_15_segments.dcm",
        build=rle_fifteen_segments,
        outcomes=INVALID,
        about="RLE header declares 15 segments for 8-bit grey",
    ),
    BombCase(
        name="rle_0_segments.dcm",
        build=rle_no_segments,
        outcomes=INVALID,
        about="RLE header declares no segment",
    ),
    BombCase(
        name="rle_offset_past_end.dcm",
        build=rle_offset_past_end,
        outcomes=INVALID,
        about="RLE segment offset 0xFFFFFFF0",
    ),
    BombCase(
        name="deflate_4gib.dcm",
        build=deflate_bomb,
        outcomes=REFUSED,
        about="deflated dataset inflating to 4 GiB",
    ),
    BombCase(
        name="native_65535x65535.dcm",
        build=native_huge_rows_columns,
        outcomes=SHORT,
        about="native 65535^2 16-bit, 128 bytes of pixel data",
    ),
    BombCase(
        name="native_2g_frames.dcm",
        build=native_huge_frames,
        outcomes=SHORT,
        about="native 64^2 x 2147483647 frames, one frame of data",
    ),
    BombCase(
        name="native_30000x30000x10000.dcm",
        build=native_huge_everything,
        outcomes=SHORT,
        about="native 30000^2 x 10000 frames, 4 KiB of data",
    ),
    BombCase(
        name="lut_descriptors_huge.dcm",
        build=huge_lut_descriptors,
        outcomes=SHORT | {COMPLETED},
        about="modality and VOI LUT descriptors claim 65536 entries of 65535 bits",
    ),
    BombCase(
        name="palette_descriptors_huge.dcm",
        build=huge_palette_descriptors,
        outcomes=SHORT | {COMPLETED},
        about="palette descriptors claim 65536 entries, data holds two",
    ),
    BombCase(
        name="nested_10000_sequences.dcm",
        build=deeply_nested_sequences,
        outcomes=REFUSED | {COMPLETED},
        about="a valid image with a sequence nested 10000 deep",
    ),
    BombCase(
        name="element_length_fffffffe.dcm",
        build=element_length_fffffffe,
        outcomes=INVALID,
        about="an element length of 0xFFFFFFFE (past the end of the file)",
    ),
    BombCase(
        name="png_65535.png",
        build=png_bomb,
        outcomes=frozenset({"TOO_LARGE"}),
        about="PNG IHDR claims 65535^2, IDAT inflates to 4 GiB",
    ),
    BombCase(
        name="jpeg_65535.jpg",
        build=jpeg_file_bomb,
        outcomes=frozenset({"TOO_LARGE"}),
        about="JPEG file whose SOF claims 65535^2 x3",
    ),
    BombCase(
        name="fragments_one_frame.dcm",
        build=many_fragments_one_frame,
        outcomes=SHORT | {COMPLETED},
        about="one JPEG frame in 300000 2-byte fragments",
    ),
    BombCase(
        name="fragments_300000_frames.dcm",
        build=many_fragments_many_frames,
        outcomes=SHORT,
        about="300000 frames of one 2-byte fragment each",
    ),
    BombCase(
        name="thin_1x513.dcm",
        build=lambda: thin(1, 513, 25),
        outcomes=frozenset({COMPLETED}),
        about="a valid 1 x 513 image (analyzers must skip or budget it)",
    ),
    BombCase(
        name="thin_513x1.dcm",
        build=lambda: thin(513, 1, 26),
        outcomes=frozenset({COMPLETED}),
        about="a valid 513 x 1 image",
    ),
)


def write_bombs(folder: Path) -> dict[str, Path]:
    """Write every bomb into ``folder``; name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in BOMBS:
        path = folder / case.name
        path.write_bytes(case.build())
        paths[case.name] = path
    return paths
