"""What a compressed frame's own header declares, read from its first bytes only.

A decoder sizes its output from the codestream's header, not from the DICOM attributes:
a 64x64 file whose codestream claims 20000x20000 makes the decoder allocate gigabytes.
These readers take the declared size from the header so that it can be checked before
any decoder runs:

- JPEG (ISO 10918-1 B.2.2): the first frame header, SOF0-SOF15 (baseline, extended,
  progressive, lossless, hierarchical, arithmetic) or DHP; JPEG-LS (ISO 14495-1 C.2.2)
  SOF55. Other marker segments are skipped by their lengths, never read; a frame header
  with 0 lines takes its height from the DNL segment (ISO 10918-1 B.2.5);
- JPEG 2000 and HTJ2K (ISO 15444-1 A.5.1): the SIZ segment of a raw codestream, or of the
  contiguous codestream box of a JP2 file (ISO 15444-1 I.5.4);
- RLE Lossless (PS3.5 G.3.1): the 64-byte header's segment count and offsets.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from typing import Protocol

from dicomlens.domain.errors import DicomlensError, ErrorCode

JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
"""The first box of every JP2 file (ISO 15444-1 I.5.1)."""
J2K_START = b"\xff\x4f\xff\x51"
"""SOC then SIZ: how every JPEG 2000 codestream starts (ISO 15444-1 A.4.1, A.5.1)."""
JPEG_START = b"\xff\xd8"

# ISO 10918-1 Table B.1: SOFn are C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_DHP = 0xDE
_SOF55 = 0xF7  # JPEG-LS (ISO 14495-1 Table C.1)
_SOS, _EOI, _DNL = 0xDA, 0xD9, 0xDC
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length
_MAX_SEGMENTS = 4096
_MAX_BOXES = 64
_DNL_CHUNK = 1 << 16


class ByteSource(Protocol):
    """Random access to the bytes of one frame's codestream."""

    @property
    def size(self) -> int:
        """How many bytes the codestream has."""

    def read_at(self, offset: int, count: int) -> bytes:
        """Up to ``count`` bytes from ``offset`` (fewer at the end)."""


@dataclass(frozen=True, kw_only=True)
class CodestreamHeader:
    """The image a codestream's header declares: what a decoder will allocate."""

    marker: str
    """The header it was read from, e.g. "SOF3", "SOF55", "SIZ"."""
    rows: int
    columns: int
    samples: int
    """Components (JPEG Nf, JPEG 2000 Csiz)."""
    precision: int
    """Bits per sample, the largest over the components."""
    process: int = 0
    """The JPEG frame marker's second byte (0xC0-0xCF, 0xDE, 0xF7); 0 otherwise."""
    signed: bool = False
    """Whether a component holds signed values (JPEG 2000 Ssiz bit 7); False for JPEG."""

    @property
    def hierarchical(self) -> bool:
        """Whether the JPEG codestream is hierarchical (DHP, or a differential frame)."""
        return self.process in (_DHP, 0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF)


@dataclass(frozen=True, kw_only=True)
class RleHeader:
    """The RLE header of one frame: its segments' offsets (PS3.5 G.3.1)."""

    offsets: tuple[int, ...]


def _invalid(message: str) -> DicomlensError:
    return DicomlensError(ErrorCode.INVALID_DICOM, message)


def read_jpeg_header(source: ByteSource) -> CodestreamHeader:
    """The first frame header (SOFn, DHP or JPEG-LS SOF55) of a JPEG codestream.

    Marker segments before it are skipped by their lengths (at most a few thousand).
    Raises INVALID_DICOM when the codestream does not start with SOI or has no frame
    header before its first scan.
    """
    if source.read_at(0, 2) != JPEG_START:
        raise _invalid("the JPEG codestream does not start with an SOI marker")
    position = 2
    for _ in range(_MAX_SEGMENTS):
        head = source.read_at(position, 4)
        if len(head) < 2 or head[0] != 0xFF:
            break
        marker = head[1]
        if marker == 0xFF:  # a fill byte before a marker
            position += 1
            continue
        if marker in _STANDALONE:
            position += 2
            continue
        if marker in (_SOS, _EOI) or len(head) < 4:
            break
        length = head[2] << 8 | head[3]
        if length < 2:
            break
        if marker in _SOF or marker in (_DHP, _SOF55):
            return _frame_header(source, position, marker, length)
        position += 2 + length
    raise _invalid("the JPEG codestream has no frame header (SOFn) before its first scan")


def _frame_header(source: ByteSource, position: int, marker: int, length: int) -> CodestreamHeader:
    """The frame header segment at ``position``: P, Y, X, Nf (ISO 10918-1 B.2.2)."""
    name = "DHP" if marker == _DHP else f"SOF{marker - 0xC0 if marker != _SOF55 else 55}"
    body = source.read_at(position + 4, 6)
    if length < 8 or len(body) < 6:
        raise _invalid(f"the JPEG {name} segment is too short")
    precision, lines, columns, components = struct.unpack(">BHHB", body)
    if lines == 0:
        lines = _lines_from_dnl(source, position + 2 + length, name)
    return CodestreamHeader(
        marker=name,
        rows=lines,
        columns=columns,
        samples=components,
        precision=precision,
        process=marker,
    )


def _lines_from_dnl(source: ByteSource, start: int, name: str) -> int:
    """The number of lines a DNL segment after ``start`` defines (ISO 10918-1 B.2.5).

    A frame header may leave its height to a DNL segment after the first scan. No other
    marker starts with FF DC inside entropy-coded data (an FF there is followed by 00),
    so the first occurrence is the DNL. Read in chunks: the frame is walked once.
    """
    position = start
    while position < source.size:
        chunk = source.read_at(position, _DNL_CHUNK + 5)
        found = chunk.find(b"\xff\xdc")
        if 0 <= found <= _DNL_CHUNK:
            segment = chunk[found : found + 6]
            if len(segment) < 6:
                segment = source.read_at(position + found, 6)
            if len(segment) == 6:
                return int.from_bytes(segment[4:6], "big") or _no_lines(name)
            break
        position += _DNL_CHUNK
    return _no_lines(name)


def _no_lines(name: str) -> int:
    raise _invalid(f"the JPEG {name} header declares 0 lines and no DNL segment defines them")


def read_j2k_header(source: ByteSource) -> CodestreamHeader:
    """The SIZ segment of a JPEG 2000 (or HTJ2K) codestream, raw or in a JP2 file.

    The image is Xsiz-XOsiz by Ysiz-YOsiz with Csiz components; the precision is the
    largest Ssiz + 1 (ISO 15444-1 Table A.11). Raises INVALID_DICOM when neither a
    codestream start nor a JP2 signature opens the data, or the SIZ segment is short.
    """
    start = _j2k_codestream_offset(source)
    head = source.read_at(start, 42)
    if head[:4] != J2K_START or len(head) < 42:
        raise _invalid("the JPEG 2000 codestream does not start with SOC and SIZ markers")
    length = int.from_bytes(head[4:6], "big")
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", head[8:24])
    components = int.from_bytes(head[40:42], "big")
    specs = source.read_at(start + 42, 3 * components)
    if components == 0 or len(specs) < 3 * components or length != 38 + 3 * components:
        raise _invalid(f"the JPEG 2000 SIZ segment is malformed (Csiz {components})")
    if xosiz >= xsiz or yosiz >= ysiz:
        raise _invalid(
            f"the JPEG 2000 SIZ segment declares an empty image (Xsiz {xsiz}, XOsiz {xosiz},"
            f" Ysiz {ysiz}, YOsiz {yosiz})"
        )
    precision = max((specs[3 * k] & 0x7F) + 1 for k in range(components))
    return CodestreamHeader(
        marker="SIZ",
        rows=ysiz - yosiz,
        columns=xsiz - xosiz,
        samples=components,
        precision=precision,
        signed=any(specs[3 * k] & 0x80 for k in range(components)),
    )


_SOT, _COD, _COC = 0xFF90, 0xFF52, 0xFF53


def read_j2k_levels(source: ByteSource) -> int:
    """The fewest wavelet decomposition levels the main header gives any component.

    Read from the COD segment and every COC segment before the first tile (ISO 15444-1
    A.6.1, A.6.2: SPcod / SPcoc's first byte). A frame can be decoded at 1/2**n of its
    size for any n up to this number. A tile-part header may lower it again; the decoder
    then refuses the reduction. Raises INVALID_DICOM when the main header has no COD.
    """
    start = _j2k_codestream_offset(source)
    components = read_j2k_header(source).samples
    position = start + 2  # after SOC
    levels: int | None = None
    for _ in range(_MAX_SEGMENTS):
        head = source.read_at(position, 4)
        if len(head) < 4 or head[0] != 0xFF:
            break
        marker, length = struct.unpack(">HH", head)
        if marker == _SOT or length < 2:
            break
        body = source.read_at(position + 4, length - 2)
        if marker == _COD and len(body) >= 6:
            found = body[5]
        elif marker == _COC and len(body) >= (4 if components >= 257 else 3):
            found = body[3 if components >= 257 else 2]
        else:
            position += 2 + length
            continue
        levels = found if levels is None else min(levels, found)
        position += 2 + length
    if levels is None:
        raise _invalid("the JPEG 2000 main header has no COD segment")
    return levels


def _j2k_codestream_offset(source: ByteSource) -> int:
    """Where the codestream starts: 0, or the contents of a JP2 file's jp2c box."""
    if source.read_at(0, len(JP2_SIGNATURE)) != JP2_SIGNATURE:
        return 0
    position = 0
    for _ in range(_MAX_BOXES):
        head = source.read_at(position, 16)
        if len(head) < 8:
            break
        length, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if length == 1 and len(head) == 16:  # XLBox: a 64-bit length follows
            (length,) = struct.unpack(">Q", head[8:16])
            header = 16
        if kind == b"jp2c":
            return position + header
        if length < header:  # 0 (to the end) on any box but jp2c leaves no codestream
            break
        position += length
    raise _invalid("the JP2 file has no contiguous codestream box (jp2c)")


def read_rle_header(source: ByteSource) -> RleHeader:
    """The segment offsets of an RLE frame's 64-byte header (PS3.5 G.3.1, G.5).

    Raises INVALID_DICOM unless the header declares 1-15 segments whose offsets start at
    64, increase, and lie inside the frame.
    """
    head = source.read_at(0, 64)
    if len(head) < 64:
        raise _invalid(f"the RLE frame has {len(head)} bytes, fewer than its 64-byte header")
    values = struct.unpack("<16I", head)
    count = values[0]
    if not 1 <= count <= 15:
        raise _invalid(f"the RLE header declares {count} segments; 1 to 15 are allowed")
    offsets = values[1 : 1 + count]
    ordered = all(a < b for a, b in itertools.pairwise(offsets))
    if offsets[0] != 64 or not ordered or offsets[-1] >= source.size:
        raise _invalid(
            f"the RLE header's segment offsets ({', '.join(map(str, offsets))}) do not start"
            f" at 64 and increase within the frame's {source.size} bytes"
        )
    return RleHeader(offsets=offsets)


class BufferBytes:
    """A codestream held in memory, as a :class:`ByteSource`."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        """How many bytes the codestream has."""
        return len(self._data)

    def read_at(self, offset: int, count: int) -> bytes:
        """Up to ``count`` bytes from ``offset`` (fewer at the end)."""
        return self._data[offset : offset + count]
