"""The text search's parts: turned boxes, renderings, padding, the identical-image memo, and
pixel data that is rebuilt whatever its kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicomlens.config import Settings
from dicomlens.deid import ProfileOptions, deidentify_file
from dicomlens.deid.pixels import padded_rect
from dicomlens.deid.renderings import PERCENTILES, frame_renderings, percentiles
from dicomlens.deid.text_search import (
    ORIENTATIONS,
    QUARTER_TURNS,
    FoundText,
    LocatorFinder,
    TextSearch,
    unturn_box,
)
from dicomlens.domain.errors import ErrorCode
from dicomlens.domain.results import Box
from dicomlens.handlers.resolver import STATUS_BY_CODE


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_a_box_found_in_a_turned_frame_maps_back_onto_the_frame(degrees: int) -> None:
    frame = np.zeros((60, 100), dtype=np.uint8)
    frame[10:20, 30:70] = 1
    turned = np.rot90(frame, degrees // 90)
    rows, columns = np.nonzero(turned)
    box = (columns.min(), rows.min(), columns.max() + 1.0, rows.max() + 1.0)

    assert unturn_box(box, degrees, rows=60, columns=100) == (30, 10, 70, 20)


def _ct(stored: np.ndarray) -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.WindowCenter, ds.WindowWidth = [40, 300], [400, 1500]
    ds.BitsStored, ds.BitsAllocated, ds.PixelRepresentation = 16, 16, 1
    return ds


def test_renderings_include_every_window_min_max_percentile_and_monochrome1_inverse() -> None:
    stored = np.full((32, 32), 1054, dtype=np.int16)  # 30 HU
    stored[10:12, 5:25] = 1274  # 250 HU "text"
    stored[0, 0] = 32000  # an outlier
    ds = _ct(stored)

    renderings = frame_renderings(stored, ds, 0)

    # two windows, min-max, percentile: the text stands out in all but min-max
    assert len(renderings) == 4
    contrasts = sorted(int(r[10, 10]) - int(r[20, 20]) for r in renderings)
    assert contrasts[0] <= 3 and contrasts[1] >= 30
    ds.PhotometricInterpretation = "MONOCHROME1"
    inverted = frame_renderings(stored, ds, 0)
    assert len(inverted) == 8
    assert any(np.array_equal(255 - renderings[0], r) for r in inverted)


def test_padding_grows_with_the_text_height_and_stays_inside_the_frame() -> None:
    def hit(left: float, top: float, right: float, bottom: float) -> FoundText:
        return FoundText(
            frame=0, left=left, top=top, right=right, bottom=bottom, text="AB", confidence=1.0
        )

    small = padded_rect(hit(50, 50, 100, 60), rows=200, columns=200)
    large = padded_rect(hit(50, 100, 150, 140), rows=200, columns=200)
    assert (50 - small.left, small.bottom - 60) == (4, 4)  # 10 px text: 4 px
    assert (50 - large.left, large.bottom - 140) == (14, 14)  # 40 px text: 14 px
    edge = padded_rect(hit(0, 190, 30, 200), rows=200, columns=200)
    assert (edge.left, edge.bottom) == (0, 200)


class _CountingFinder:
    def __init__(self) -> None:
        self.calls = 0

    def detect(self, pixels: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.zeros((0, 4, 2), dtype=np.float32)

    def recognize(self, pixels: np.ndarray, quads: np.ndarray) -> list[tuple[str, float]]:
        return []


def test_every_frame_is_examined_and_only_identical_images_are_examined_once() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 16, 16, 1), dtype=np.uint8)
    frames[5] = frames[4]  # one repeated frame
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    finder = _CountingFinder()

    TextSearch(finder).search(frames, ds)

    per_frame = len(frame_renderings(frames[0, :, :, 0], ds, 0)) * len(ORIENTATIONS)
    assert finder.calls == 5 * per_frame


def test_a_plain_box_locator_is_searched_at_all_three_quarter_turns() -> None:
    shapes: list[tuple[int, ...]] = []

    def locator(pixels: np.ndarray) -> list[Box]:
        shapes.append(pixels.shape)
        return []

    frame = np.zeros((1, 8, 12), dtype=np.uint8)
    frame[0, 2, 3] = 200
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"

    TextSearch(LocatorFinder(locator)).search(frame, ds)

    per_orientation = len(frame_renderings(frame[0], ds, 0))
    assert len(shapes) == per_orientation * len(QUARTER_TURNS)
    assert shapes.count((12, 8)) == 2 * per_orientation  # the 90° and 270° turns


@pytest.mark.parametrize(
    ("rows", "columns", "examined"), [(1, 513, False), (513, 3, False), (4, 64, True)]
)
def test_images_too_thin_for_a_legible_glyph_are_not_given_to_the_detector(
    rows: int, columns: int, examined: bool
) -> None:
    # Given a strip thinner than any legible letter (the detector would enlarge it hugely)
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (1, rows, columns, 1), dtype=np.uint8)
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    finder = _CountingFinder()
    # When it is searched, then it holds no text, and only a strip of 4 rows or more is looked at
    assert TextSearch(finder).search(frames, ds) == []
    assert (finder.calls > 0) == examined


def test_float_pixel_data_is_rebuilt_as_float(tmp_path: Path) -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.30"  # Parametric Map
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "MR"
    ds.PatientName = "ZELAZNY^MIRANDA"
    ds.Rows = ds.Columns = 4
    ds.NumberOfFrames = 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = 32
    values = np.linspace(-1, 1, 16, dtype="<f4").reshape(4, 4)
    ds.FloatPixelData = values.tobytes()
    source = tmp_path / "float.dcm"
    ds.save_as(source, enforce_file_format=True)

    report = deidentify_file(
        source,
        tmp_path / "out.dcm",
        ProfileOptions(secret=b"k", pixel_text="off"),
        limits=Settings().imaging_limits(),
    )

    out = dcmread(report.output)
    assert "PixelData" not in out
    assert np.array_equal(out.pixel_array, values)


def test_a_refused_redaction_is_answered_422_by_the_api() -> None:
    assert STATUS_BY_CODE[ErrorCode.REDACTION_INCOMPLETE] == 422


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).integers(0, 256, (512, 512)).astype(np.float32),  # 8-bit
        np.random.default_rng(2).integers(-1024, 3072, (64, 80)).astype(np.float32),  # CT HU
        np.random.default_rng(3).integers(0, 65536, (40, 40)).astype(np.float64),  # 16-bit
        np.random.default_rng(4).integers(0, 4096, (100, 37)).astype(np.float64),
        np.full((10, 10), 7.0, dtype=np.float32),
        np.asarray([[5.0]], dtype=np.float32),
        np.asarray([[0.0, 1.0], [1.0, 1.0]], dtype=np.float32),
        np.random.default_rng(5).normal(0, 1, (64, 64)).astype(np.float32),  # not integers
        (np.random.default_rng(6).integers(0, 4096, (50, 50)) * 0.5).astype(np.float32),
        np.asarray([[0.0, 70000.0]], dtype=np.float32),  # wider than the histogram
        np.asarray([[1e300, 1e300 + 2**1000]], dtype=np.float64),  # beyond int64
    ],
)
def test_the_robust_window_s_percentiles_equal_numpy_s_to_the_last_bit(
    values: np.ndarray,
) -> None:
    lo, hi = float(values.min()), float(values.max())
    expected = tuple(float(v) for v in np.percentile(values, PERCENTILES))
    assert percentiles(values, lo=lo, hi=hi) == expected
