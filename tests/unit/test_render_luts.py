"""Unusable or odd-length Modality / VOI LUTs: the file renders, and the user is told.

The DCMTK oracle for the same files is tests/integration/test_render_fidelity.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from corpus.generate import LUT_PROBLEMS, expected_lut_findings, lut_problem_case
from dicomlens.analysis.pipeline import analyze_file
from dicomlens.domain.results import LUT_IGNORED, LUT_REPAIRED, LUT_SINGLE_ENTRY
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.render import Rendered, render

UNUSABLE = [
    p
    for p in LUT_PROBLEMS
    if expected_lut_findings("VOILUTSequence", p, window=False) == {LUT_IGNORED}
]


def _render(path: Path) -> Rendered:
    return render(read_image(path, limits=ImagingLimits()))


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _without(path: Path, keyword: str, tmp_path: Path) -> Path:
    """The same file with the sequence ``keyword`` removed."""
    ds = pydicom.dcmread(path)
    del ds[keyword]
    out = tmp_path / f"without-{path.name}"
    ds.save_as(out)
    return out


@pytest.mark.parametrize("window", [False, True], ids=["no-window", "window"])
@pytest.mark.parametrize("problem", UNUSABLE)
def test_an_unusable_modality_lut_is_ignored_for_the_rescale(
    problem: str, window: bool, tmp_path: Path
) -> None:
    # Given a Modality LUT Sequence that is empty or incomplete
    path = _write(
        tmp_path, "case.dcm", lut_problem_case("ModalityLUTSequence", problem, window=window)
    )
    rendered = _render(path)
    # Then the picture is the one without the LUT, and a finding says so
    plain = _render(_without(path, "ModalityLUTSequence", tmp_path))
    assert np.array_equal(rendered.pixels, plain.pixels)
    assert [f.kind for f in rendered.findings] == [LUT_IGNORED]
    assert "Modality LUT Sequence" in rendered.findings[0].message
    assert "stored values were used instead" in rendered.findings[0].message


@pytest.mark.parametrize("problem", UNUSABLE)
def test_an_unusable_voi_lut_gives_way_to_the_automatic_window(
    problem: str, tmp_path: Path
) -> None:
    # Given a VOI LUT Sequence that is empty or incomplete, and no window
    path = _write(tmp_path, "case.dcm", lut_problem_case("VOILUTSequence", problem))
    rendered = _render(path)
    # Then the automatic window is used, as if there were no VOI LUT, and a finding says so
    plain = _render(_without(path, "VOILUTSequence", tmp_path))
    assert np.array_equal(rendered.pixels, plain.pixels)
    assert rendered.window.source == "automatic"
    assert [f.kind for f in rendered.findings] == [LUT_IGNORED]
    assert "automatic window was used instead" in rendered.findings[0].message


def test_an_unusable_voi_lut_behind_a_window_changes_nothing(tmp_path: Path) -> None:
    # Given an empty VOI LUT item in a file that has a window (which comes first)
    path = _write(
        tmp_path, "case.dcm", lut_problem_case("VOILUTSequence", "empty-item", window=True)
    )
    rendered = _render(path)
    # Then the window is used and there is nothing to report
    assert rendered.window.source == "file-window"
    assert rendered.findings == ()


def test_lut_data_longer_than_declared_is_used_whole(tmp_path: Path) -> None:
    # Given a VOI LUT whose descriptor declares 2048 entries but whose data holds 4096
    path = _write(tmp_path, "case.dcm", lut_problem_case("VOILUTSequence", "long-data"))
    image = read_image(path, limits=ImagingLimits())
    rendered = render(image)
    # Then stored values above 2047 map through the entries that are there (as DCMTK),
    # not all onto the 2048th entry
    assert image.pixels is not None
    curve = np.rint(4095 * (np.arange(4096) / 4095) ** 0.8)
    expected = np.rint(curve[image.pixels] * 255 / 4095).astype(np.uint8)
    assert np.array_equal(rendered.pixels, expected)
    assert [f.kind for f in rendered.findings] == [LUT_REPAIRED]
    assert "4096 entries" in rendered.findings[0].message


def test_lut_data_shorter_than_declared_clamps_at_its_last_entry(tmp_path: Path) -> None:
    path = _write(tmp_path, "case.dcm", lut_problem_case("ModalityLUTSequence", "short-data"))
    image = read_image(path, limits=ImagingLimits())
    rendered = render(image)
    assert image.pixels is not None
    # Stored values past the 1000 entries all take the last one: one grey level
    assert len(np.unique(rendered.pixels[image.pixels >= 999])) == 1
    assert [f.kind for f in rendered.findings] == [LUT_REPAIRED]


def test_a_one_entry_modality_lut_maps_every_value_to_it(tmp_path: Path) -> None:
    # Given a Modality LUT of one entry (3000): every modality value is 3000
    path = _write(tmp_path, "case.dcm", lut_problem_case("ModalityLUTSequence", "one-entry"))
    rendered = _render(path)
    # Then the constant image shows white (as DCMTK's automatic window shows it)
    assert set(np.unique(rendered.pixels).tolist()) == {255}
    # And the user learns why the preview is one grey level
    assert [f.kind for f in rendered.findings] == [LUT_SINGLE_ENTRY]
    assert "single entry" in rendered.findings[0].message


def test_the_finding_reaches_the_analysis_result(generated_corpus: dict[str, Path]) -> None:
    # Given the corpus file with an empty Modality LUT item
    analysis = analyze_file(generated_corpus["gen_modality_lut_empty_item.dcm"])
    # Then the job's result renders and carries the finding
    assert analysis.result.has_image
    assert "preview.png" in analysis.images
    assert LUT_IGNORED in [f.kind for f in analysis.result.findings]


@pytest.mark.parametrize("problem", ["zero-bits", "wide-bits"])
def test_a_voi_lut_without_a_valid_entry_size_takes_it_from_its_data(
    problem: str, tmp_path: Path
) -> None:
    # Given a VOI LUT of 12-bit entries whose descriptor says 0 or 17 bits per entry
    path = _write(tmp_path, "case.dcm", lut_problem_case("VOILUTSequence", problem))
    rendered = _render(path)
    # Then its largest entry (4095) shows white, as DCMTK shows it, and the user is told
    assert rendered.window.source == "file-voi-lut"
    assert int(rendered.pixels.min()) == 0
    assert int(rendered.pixels.max()) == 255
    assert [f.kind for f in rendered.findings] == [LUT_REPAIRED]
    assert "12 bits" in rendered.findings[0].message
