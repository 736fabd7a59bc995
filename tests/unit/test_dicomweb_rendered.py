"""Rendered and thumbnail pictures: the job preview's pixels, the standard's parameters."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from dicomlens.analysis.pipeline import analyze_file
from dicomlens.dicomweb.rendered import (
    RenderParams,
    parse_render_params,
    parse_viewport,
    parse_window,
    render_frame,
    thumbnail,
)
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.limits import ImagingLimits

LIMITS = ImagingLimits()


def _file(name: str) -> Path:
    return Path(str(get_testdata_file(name)))


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_RLE.dcm", "examples_palette.dcm", "JPEG2000.dcm"]
)
def test_png_at_full_size_equals_the_job_preview(name: str) -> None:
    path = _file(name)
    preview = analyze_file(path).images["preview.png"]
    ours = render_frame(path, frame=1, params=RenderParams(), media_type="image/png", limits=LIMITS)
    assert np.array_equal(_pixels(ours), _pixels(preview))


def test_window_parameter_changes_the_picture_as_the_window_says() -> None:
    path = _file("CT_small.dcm")
    narrow = RenderParams(window=parse_window("40,1,linear"))
    pixels = _pixels(
        render_frame(path, frame=1, params=narrow, media_type="image/png", limits=LIMITS)
    )
    assert set(np.unique(pixels)) <= {0, 255}  # a width-1 window is a threshold


def test_viewport_scales_keeping_aspect_and_crops_and_flips() -> None:
    path = _file("JPEG2000.dcm")  # 1024 rows x 256 columns
    fitted = render_frame(
        path,
        frame=1,
        params=RenderParams(viewport=parse_viewport("128,128")),
        media_type="image/jpeg",
        limits=LIMITS,
    )
    assert Image.open(io.BytesIO(fitted)).size == (32, 128)
    full = _pixels(
        render_frame(path, frame=1, params=RenderParams(), media_type="image/png", limits=LIMITS)
    )
    flipped = render_frame(
        path,
        frame=1,
        params=RenderParams(viewport=parse_viewport("100,100,10,20,-100,100")),
        media_type="image/png",
        limits=LIMITS,
    )
    assert np.array_equal(_pixels(flipped), full[20:120, 10:110][:, ::-1])


def test_thumbnail_is_small_and_keeps_aspect() -> None:
    picture = thumbnail(_file("JPEG2000.dcm"), media_type="image/jpeg", limits=LIMITS)
    assert Image.open(io.BytesIO(picture)).size == (64, 256)
    assert (
        Image.open(
            io.BytesIO(thumbnail(_file("CT_small.dcm"), media_type="image/gif", limits=LIMITS))
        ).format
        == "GIF"
    )


@pytest.mark.parametrize(
    "query",
    [
        {"window": "40"},
        {"window": "40,abc"},
        {"window": "40,0"},
        {"window": "40,100,cubic"},
        {"window": "nan,100"},
        {"viewport": "100000,100000"},
        {"viewport": "0,10"},
        {"viewport": ","},
        {"viewport": "10,10,1,2,3"},
        {"quality": "0"},
        {"quality": "101"},
        {"annotation": "everything"},
    ],
)
def test_malformed_parameters_are_validation_errors(query: dict[str, str]) -> None:
    with pytest.raises(DicomlensError) as caught:
        parse_render_params(query)
    assert caught.value.code == ErrorCode.VALIDATION_ERROR


def test_parameters_parse() -> None:
    params = parse_render_params(
        {
            "window": "-600,1500,sigmoid",
            "viewport": "512,",
            "quality": "75",
            "annotation": "patient",
        }
    )
    assert params.window is not None and params.window.function == "SIGMOID"
    assert (
        params.viewport is not None
        and params.viewport.width == 512
        and params.viewport.height is None
    )
    assert params.quality == 75 and params.annotation == ("patient",)


@pytest.mark.parametrize("frame", [0, 99999])
def test_missing_frames_and_regions_outside(frame: int) -> None:
    with pytest.raises(DicomlensError) as caught:
        render_frame(
            _file("CT_small.dcm"),
            frame=frame,
            params=RenderParams(),
            media_type="image/jpeg",
            limits=LIMITS,
        )
    assert caught.value.code == ErrorCode.NOT_FOUND
    outside = RenderParams(viewport=parse_viewport("10,10,120,120,50,50"))
    with pytest.raises(DicomlensError) as caught:
        render_frame(
            _file("CT_small.dcm"), frame=1, params=outside, media_type="image/jpeg", limits=LIMITS
        )
    assert caught.value.code == ErrorCode.VALIDATION_ERROR


def test_unsupported_media_type_is_not_acceptable() -> None:
    with pytest.raises(DicomlensError) as caught:
        render_frame(
            _file("CT_small.dcm"),
            frame=1,
            params=RenderParams(),
            media_type="video/mp4",
            limits=LIMITS,
        )
    assert caught.value.code == ErrorCode.NOT_ACCEPTABLE
