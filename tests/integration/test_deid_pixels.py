"""Burned-in text and hidden bytes: what a privacy auditor plants, de-identification removes.

Given generated files with a name burned into places a sampled, upright, min-max search
misses (one frame of many, vertical labels, a CT whose outlier hides the text from a
min-max stretch, small glyphs) or hidden in bytes no parser shows (JPEG comment and
application markers, bytes after the last frame, an icon image), when they are
de-identified, then an OCR of every frame of the output (its own engine, upright and turned,
in several windows) and a raw-byte scan of the whole output file find none of the planted
values; and when the redaction cannot remove the text, the file is refused with
REDACTION_INCOMPLETE and nothing is written.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import io
import os
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from dicomlens.config import Settings
from dicomlens.deid import ProfileOptions, deidentify_file
from dicomlens.deid.text_search import ocr_text_finder
from dicomlens.domain.errors import DicomlensError
from dicomlens.imaging.render import Window, apply_window, modality_values

SECRET = b"pixel-secret"
PLANTED = ["ZELAZNY", "MIRANDA", "MRN884211", "ACC55123", "19610704", "OTHERID7788"]


def _require_ocr() -> None:
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        reason = "rapidocr-onnxruntime (the OCR analyzer) is not installed"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def finder() -> Any:
    _require_ocr()
    found = ocr_text_finder()
    assert found is not None
    return found


@functools.cache
def _oracle_engine(side: int) -> Any:
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(
        print_verbose=False,
        intra_op_num_threads=1,
        inter_op_num_threads=1,
        det_limit_side_len=side,
        text_score=0.3,
    )


@pytest.fixture(scope="module")
def oracle() -> Any:
    """RapidOCR's own full pipeline (detector, angle classifier, recogniser), not the code
    under test; its detector enlarges images to 512 pixels a side."""
    _require_ocr()
    return _oracle_engine(512)


@pytest.fixture(scope="module")
def quick_oracle() -> Any:
    """The same at the frames' own size (for many frames of 192 pixels a side)."""
    _require_ocr()
    return _oracle_engine(192)


# --------------------------------------------------------------------------- building files


def _label(text: str, size: int, *, fill: int = 255) -> Image.Image:
    font = ImageFont.load_default(size=size)
    _, _, right, bottom = font.getbbox(text)
    img = Image.new("L", (right + 4, bottom + 4), 0)
    ImageDraw.Draw(img).text((2, 2), text, fill=fill, font=font)
    return img


def _paste(canvas: np.ndarray, label: Image.Image, left: int, top: int) -> None:
    """Draw ``label``'s bright glyph pixels onto ``canvas`` (a copy of its values)."""
    glyphs = np.asarray(label) > 60
    h, w = glyphs.shape
    region = canvas[top : top + h, left : left + w]
    region[glyphs] = canvas.max() if canvas.dtype != np.uint8 else 255


def _dataset(frames: np.ndarray, *, sop_class: str = UltrasoundMultiFrameImageStorage) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "US" if sop_class == UltrasoundMultiFrameImageStorage else "CT"
    ds.PatientName = "ZELAZNY^MIRANDA"
    ds.PatientID = "MRN884211"
    ds.PatientBirthDate = "19610704"
    ds.AccessionNumber = "ACC55123"
    ds.Rows, ds.Columns = frames.shape[1], frames.shape[2]
    if len(frames) > 1 or sop_class == UltrasoundMultiFrameImageStorage:
        ds.NumberOfFrames = len(frames)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    bits = frames.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 1 if frames.dtype.kind == "i" else 0
    ds.PixelData = frames.tobytes()
    return ds


def _moving_frames(count: int, size: int) -> np.ndarray:
    """``count`` distinct 8-bit frames: a shape that moves, with noise."""
    rng = np.random.default_rng(5)
    out = np.empty((count, size, size), dtype=np.uint8)
    for index in range(count):
        img = Image.new("L", (size, size), 0)
        shift = int(20 * np.sin(index / 5))
        ImageDraw.Draw(img).ellipse(
            (size // 4 + shift, size // 4, 3 * size // 4 + shift, 3 * size // 4), fill=90
        )
        noisy = np.asarray(img, dtype=np.int16) + rng.integers(-10, 11, (size, size))
        out[index] = np.clip(noisy, 0, 255)
    return out


def _write(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def _deidentify(source: Path, out: Path, finder: Any, **options: Any) -> Any:
    return deidentify_file(
        source,
        out,
        ProfileOptions(secret=SECRET, **options),
        limits=Settings().imaging_limits(),
        locator=finder,
    )


# --------------------------------------------------------------------------- the checks


def _oracle_renderings(stored: np.ndarray, ds: Dataset) -> list[np.ndarray]:
    values = modality_values(stored, ds)
    out = []
    centers, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centers is not None and widths is not None:
        pairs = zip(
            np.atleast_1d(np.asarray(centers, float)),
            np.atleast_1d(np.asarray(widths, float)),
            strict=False,
        )
        out += [apply_window(values, Window(center=c, width=w)) for c, w in pairs]
    for lo, hi in ((values.min(), values.max()), tuple(np.percentile(values, (0.5, 99.5)))):
        if hi > lo:
            out.append(np.clip((values - lo) * 255.0 / (hi - lo), 0, 255).astype(np.uint8))
    return out


def _readings(oracle: Any, path: Path, frames: list[int] | None = None) -> list[tuple[int, str]]:
    """Everything the oracle reads on every frame of ``path`` (or on ``frames``): several
    windows, upright and turned a quarter (its angle classifier reads 180 and 270 degrees)."""
    ds = dcmread(path)
    pixels = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    found = []
    for index, frame in enumerate(pixels):
        if frames is not None and index not in frames:
            continue
        for rendering in _oracle_renderings(frame, ds):
            for turns in range(2):
                rgb = np.ascontiguousarray(np.stack([np.rot90(rendering, turns)] * 3, axis=-1))
                result, _ = oracle(rgb, use_cls=True)
                found += [(index, str(text)) for _, text, _ in result or ()]
    return found


def _planted_in(readings: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Readings that show a planted value, exactly or nearly (one misread letter)."""
    hits = []
    for frame, text in readings:
        clean = re.sub(r"[^A-Z0-9]", "", text.upper())
        for value in PLANTED:
            if value in clean or any(
                difflib.SequenceMatcher(None, value, clean[i : i + len(value)]).ratio() >= 0.8
                for i in range(max(1, len(clean) - len(value) + 1))
            ):
                hits.append((frame, text))
    return hits


def _raw_hits(path: Path) -> list[str]:
    data = path.read_bytes().upper()
    return [value for value in PLANTED if value.encode() in data]


def _assert_certified(path: Path) -> None:
    out = dcmread(path)
    assert out.BurnedInAnnotation == "NO"
    assert "113101" in {item.CodeValue for item in out.DeidentificationMethodCodeSequence}


# --------------------------------------------------------------------------- tests


def test_text_on_one_frame_of_many_is_found_and_only_that_frame_changes(
    tmp_path: Path, finder: Any, quick_oracle: Any
) -> None:
    frames = _moving_frames(40, 192)
    _paste(frames[36], _label("ZELAZNY MIRANDA", 16), 8, 150)
    source = _write(_dataset(frames), tmp_path / "cine.dcm")
    assert _planted_in(_readings(quick_oracle, source, [36]))  # the oracle reads the name

    report = _deidentify(source, tmp_path / "out.dcm", finder)

    assert report.text_regions >= 1
    assert _planted_in(_readings(quick_oracle, report.output)) == []
    assert _raw_hits(report.output) == []
    _assert_certified(report.output)
    out = dcmread(report.output).pixel_array
    untouched = [i for i in range(40) if i != 36]
    assert np.array_equal(out[untouched], frames[untouched])
    assert not np.array_equal(out[36], frames[36])


def test_vertical_labels_along_both_edges_are_removed(
    tmp_path: Path, finder: Any, oracle: Any
) -> None:
    frame = _moving_frames(1, 320)[0]
    _paste(frame, _label("MRN884211", 16).rotate(90, expand=True), 296, 60)
    _paste(frame, _label("ACC55123", 16).rotate(270, expand=True), 4, 80)
    source = _write(_dataset(frame[None]), tmp_path / "vertical.dcm")
    assert len(_planted_in(_readings(oracle, source))) >= 2

    report = _deidentify(source, tmp_path / "out.dcm", finder)

    assert _planted_in(_readings(oracle, report.output)) == []
    _assert_certified(report.output)


def test_a_label_reading_upwards_on_one_frame_is_found_in_the_quarter_turned_image(
    tmp_path: Path, finder: Any, oracle: Any
) -> None:
    """Text turned 270° stands upside down in the 90° image; the search has no 270° pass and
    reads it there half-turned, so it is still removed (and verified removed)."""
    frames = _moving_frames(3, 320)
    _paste(frames[1], _label("MRN884211", 13).rotate(270, expand=True), 300, 70)
    short = _label("AB", 16).rotate(270, expand=True)
    _paste(frames[1], short, 8, 200)
    source = _write(_dataset(frames), tmp_path / "upwards.dcm")
    assert _planted_in(_readings(oracle, source, [1]))

    report = _deidentify(source, tmp_path / "out.dcm", finder)

    assert report.text_regions >= 2
    assert _planted_in(_readings(oracle, report.output)) == []
    _assert_certified(report.output)
    out = dcmread(report.output).pixel_array
    assert np.array_equal(out[[0, 2]], frames[[0, 2]])
    glyphs = np.asarray(short) > 60
    short_region = out[1, 200 : 200 + glyphs.shape[0], 8 : 8 + glyphs.shape[1]]
    assert not (short_region[glyphs] == 255).any()  # the short label is blacked out too


def _ct_with_outlier() -> np.ndarray:
    """A CT slice (stored = HU + 1024): air, a body at 30 HU, a name at 250 HU, one pixel at
    32000: a min-max stretch shows the name 2 grey levels above the body, the file's window
    40/400 shows it white on grey."""
    stored = np.full((256, 256), 24, dtype=np.int16)
    img = Image.new("L", (256, 256), 0)
    ImageDraw.Draw(img).ellipse((20, 20, 236, 236), fill=1)
    stored[np.asarray(img) == 1] = 1054
    glyphs = np.asarray(_label("ZELAZNY", 18)) > 60
    stored[110 : 110 + glyphs.shape[0], 60 : 60 + glyphs.shape[1]][glyphs] = 1274
    stored[3, 3] = 32000
    return stored


def test_text_hidden_from_min_max_by_an_outlier_is_found_in_the_files_window(
    tmp_path: Path, finder: Any, oracle: Any
) -> None:
    ds = _dataset(_ct_with_outlier()[None], sop_class=CTImageStorage)
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    source = _write(ds, tmp_path / "ct.dcm")
    stored = dcmread(source).pixel_array
    lo, hi = float(stored.min()), float(stored.max())
    min_max = ((stored - lo) * 255.0 / (hi - lo)).astype(np.uint8)
    rgb = np.ascontiguousarray(np.stack([min_max] * 3, axis=-1))
    assert not _planted_in([(0, str(t)) for _, t, _ in oracle(rgb)[0] or ()])  # hidden there
    assert _planted_in(_readings(oracle, source))  # but plain in the file's window

    report = _deidentify(source, tmp_path / "out.dcm", finder)

    assert report.text_regions >= 1
    assert _planted_in(_readings(oracle, report.output)) == []
    _assert_certified(report.output)


def test_small_text_is_blacked_out_with_padding_in_proportion_to_its_height(
    tmp_path: Path, finder: Any, oracle: Any
) -> None:
    frame = _moving_frames(1, 256)[0]
    label = _label("ZELAZNY MIRANDA", 11)
    _paste(frame, label, 10, 8)
    glyph_rows, glyph_columns = np.nonzero(np.asarray(label) > 60)
    top, bottom = 8 + glyph_rows.min(), 8 + glyph_rows.max() + 1
    left, right = 10 + glyph_columns.min(), 10 + glyph_columns.max() + 1
    assert bottom - top <= 11  # text 8-11 px tall
    source = _write(_dataset(frame[None]), tmp_path / "small.dcm")
    assert _planted_in(_readings(oracle, source))

    report = _deidentify(source, tmp_path / "out.dcm", finder)

    out = dcmread(report.output).pixel_array.reshape(256, 256)
    margin = 2  # every glyph pixel and a margin around the glyphs are blacked out
    assert int(out[top - margin : bottom + margin, left - margin : right + margin].max()) == 0
    assert _planted_in(_readings(oracle, report.output)) == []
    _assert_certified(report.output)


def _jpeg_with_markers(pixels: np.ndarray) -> bytes:
    """A baseline JPEG with a COM and an APP15 segment holding planted values."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    jpeg = buffer.getvalue()
    comment = b"ZELAZNY MIRANDA MRN884211"
    application = b"ACC55123 19610704"
    com = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    app = b"\xff\xef" + struct.pack(">H", len(application) + 2) + application
    return jpeg[:2] + com + app + jpeg[2:]


def _item(value: bytes) -> bytes:
    return b"\xfe\xff\x00\xe0" + struct.pack("<I", len(value)) + value


def test_jpeg_markers_offset_table_extra_fragments_and_icons_never_reach_the_output(
    tmp_path: Path,
) -> None:
    pixels = _moving_frames(1, 128)[0]
    ds = _dataset(pixels[None], sop_class=CTImageStorage)
    # A Basic Offset Table with text in it (one frame needs none), the codestream, and a
    # fragment after it.
    bot = b"MRN884211   "
    ds.PixelData = (
        _item(bot)
        + encapsulate([_jpeg_with_markers(pixels)], has_bot=False)[8:]
        + _item(b"OTHERID7788 ")
    )
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    icon = Dataset()
    icon.Rows = icon.Columns = 8
    icon.SamplesPerPixel, icon.PhotometricInterpretation = 1, "MONOCHROME2"
    icon.BitsAllocated, icon.BitsStored, icon.HighBit, icon.PixelRepresentation = 8, 8, 7, 0
    icon.PixelData = b"OTHERID7788 ZELAZNY MIRANDA " + b"\x00" * 36
    ds.IconImageSequence = Sequence([icon])
    source = _write(ds, tmp_path / "markers.dcm")
    assert len(_raw_hits(source)) == 6

    report = deidentify_file(
        source,
        tmp_path / "out.dcm",
        ProfileOptions(secret=SECRET, pixel_text="off"),
        limits=Settings().imaging_limits(),
    )

    assert _raw_hits(report.output) == []
    out = dcmread(report.output)
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert "IconImageSequence" not in out
    assert out.pixel_array.shape == (128, 128)


def test_bytes_after_the_last_native_frame_are_dropped(tmp_path: Path) -> None:
    frames = _moving_frames(3, 64)
    ds = _dataset(frames)
    ds.PixelData = frames.tobytes() + b"ZELAZNY MIRANDA MRN884211 "
    source = _write(ds, tmp_path / "trailing.dcm")
    assert _raw_hits(source)

    report = deidentify_file(
        source,
        tmp_path / "out.dcm",
        ProfileOptions(secret=SECRET, pixel_text="off"),
        limits=Settings().imaging_limits(),
    )

    assert _raw_hits(report.output) == []
    out = dcmread(report.output)
    assert len(out.PixelData) == frames.size
    assert np.array_equal(out.pixel_array, frames)


class _HalfBlindFinder:
    """A detector that sees upright text only, and whose boxes cover only the left half of
    it: a redaction that leaves the rest readable, which only the verification can notice."""

    def detect(self, pixels: np.ndarray) -> np.ndarray:
        rows, columns = np.nonzero(pixels > 200 if pixels.ndim == 2 else pixels[..., 0] > 200)
        if rows.size == 0 or np.ptp(columns) < np.ptp(rows):
            return np.zeros((0, 4, 2), dtype=np.float32)
        x0, x1, y0, y1 = columns.min(), columns.max() + 1, rows.min(), rows.max() + 1
        middle = (x0 + x1) / 2
        return np.asarray([[[x0, y0], [middle, y0], [middle, y1], [x0, y1]]], np.float32)

    def recognize(self, pixels: np.ndarray, quads: np.ndarray) -> list[tuple[str, float]]:
        return [("ZELAZNY", 0.99)] * len(quads)


def test_text_left_legible_by_the_redaction_refuses_the_file_and_writes_nothing(
    tmp_path: Path,
) -> None:
    frame = _moving_frames(1, 128)[0]
    frame[60:70, 10:110] = 255  # a wide bright label
    source = _write(_dataset(frame[None]), tmp_path / "label.dcm")
    target = tmp_path / "out" / "label.dcm"

    with pytest.raises(DicomlensError) as caught:
        _deidentify(source, target, _HalfBlindFinder())

    assert caught.value.code == "REDACTION_INCOMPLETE"
    assert not target.exists()
    assert not list(tmp_path.glob("out/*"))


def test_a_codestream_that_claims_more_than_the_dataset_is_refused_before_decoding(
    tmp_path: Path,
) -> None:
    """Given a 64x64 JPEG whose frame header claims 20000x20000 (a decompression bomb), when it
    is de-identified, then it is refused INVALID_DICOM before anything is decoded."""
    import io

    from PIL import Image

    from dicomlens.domain.errors import DicomlensError, ErrorCode

    pixels = _moving_frames(1, 64)[0]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    codestream = bytearray(buffer.getvalue())
    sof = codestream.index(b"\xff\xc0")
    codestream[sof + 5 : sof + 9] = (20000).to_bytes(2, "big") * 2
    ds = _dataset(pixels[None], sop_class=CTImageStorage)
    ds.PixelData = encapsulate([bytes(codestream)])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    source = _write(ds, tmp_path / "bomb.dcm")

    with pytest.raises(DicomlensError) as refused:
        deidentify_file(
            source,
            tmp_path / "out.dcm",
            ProfileOptions(secret=SECRET, pixel_text="off"),
            limits=Settings().imaging_limits(),
        )
    assert refused.value.code == ErrorCode.INVALID_DICOM
    assert not (tmp_path / "out.dcm").exists()
