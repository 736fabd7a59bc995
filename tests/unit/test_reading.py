"""Reading files: what kind a file is, the errors users see, the limits, the frame decoded."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import UID, RLELossless

from corpus import GENERATED, expected_outcomes, real_files
from corpus.generate import MR_IMAGE, attach_grey, new_dataset, ramp, to_bytes
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.imaging.decode import locate_file, read_image
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.sniff import FileKind

LIMITS = ImagingLimits()


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("source", "disguise", "kind"),
    [
        ("gen_grey8.png", "scan.dcm", FileKind.PNG),
        ("gen_rgb.jpg", "photo.png", FileKind.JPEG),
        ("gen_monochrome1.dcm", "image.jpg", FileKind.DICOM),
        ("gen_no_preamble.dcm", "no-extension", FileKind.DICOM_NO_PREAMBLE),
        ("gen_dicm_no_preamble.dcm", "x.png", FileKind.DICOM_NO_PREAMBLE),
        ("gen_no_meta_implicit.dcm", "x.txt", FileKind.DICOM_NO_PREAMBLE),
    ],
)
def test_the_kind_of_file_comes_from_its_content_not_its_name(
    source: str, disguise: str, kind: FileKind, generated_corpus: dict[str, Path], tmp_path: Path
) -> None:
    # Given a file renamed to look like something else
    path = tmp_path / disguise
    shutil.copy(generated_corpus[source], path)
    # When it is sniffed and read
    # Then its content decides what it is, and it is read as that
    assert locate_file(path, limits=LIMITS).kind is kind
    assert read_image(path, limits=LIMITS).has_image


def test_a_dicom_file_without_preamble_reads_like_the_same_file_with_it(
    generated_corpus: dict[str, Path],
) -> None:
    # Given the same dataset with and without the preamble (and "DICM" prefix)
    with_prefix = read_image(generated_corpus["gen_dicm_no_preamble.dcm"], limits=LIMITS)
    bare = read_image(generated_corpus["gen_no_preamble.dcm"], limits=LIMITS)
    # Then both decode to the same pixels
    assert with_prefix.pixels is not None
    assert np.array_equal(with_prefix.pixels, bare.pixels)
    assert with_prefix.pixels.max() == 900


# --------------------------------------------------------------------------- errors


BAD_INPUTS = sorted(
    (name, outcome)
    for name, outcome in expected_outcomes().items()
    if outcome not in ("image", "no-image")
)


@pytest.mark.parametrize(("name", "code"), BAD_INPUTS)
def test_each_bad_input_fails_with_its_stable_code(
    name: str, code: str, generated_corpus: dict[str, Path]
) -> None:
    # Given a broken, hostile or foreign file
    paths = {path.name: path for path in real_files()} | generated_corpus
    # When it is read
    with pytest.raises(DicomlensError) as caught:
        read_image(paths[name], limits=LIMITS)
    # Then the user gets the stable code and a message that says something
    assert caught.value.code == code
    assert len(caught.value.message) > 10


def test_a_file_without_pixel_data_is_not_an_error(generated_corpus: dict[str, Path]) -> None:
    # Given a structured report
    image = read_image(generated_corpus["gen_sr.dcm"], limits=LIMITS)
    # Then its metadata is read and it says there is no image
    assert not image.has_image
    assert image.dataset is not None
    assert image.dataset.Modality == "SR"


def test_an_unknown_transfer_syntax_is_named_in_the_error(tmp_path: Path) -> None:
    # Given a file whose transfer syntax no installed decoder handles (MPEG2 video)
    ds = new_dataset(MR_IMAGE, 90, "MR")
    attach_grey(ds, ramp(8, 8, 0, 100).astype(np.uint16), bits_stored=16)
    data = to_bytes(ds)
    path = tmp_path / "mpeg2.dcm"
    mpeg2 = b"1.2.840.10008.1.2.4.100"
    # Same length as the explicit little endian UID, so the meta group length stays valid.
    path.write_bytes(data.replace(b"1.2.840.10008.1.2.1\x00", mpeg2[:19] + b"\x00", 1))
    assert str(UID(mpeg2[:19].decode())) != "1.2.840.10008.1.2.1"
    # When it is read
    with pytest.raises(DicomlensError) as caught:
        read_image(path, limits=LIMITS)
    # Then the error says which syntax is not supported
    assert caught.value.code == ErrorCode.UNSUPPORTED_TRANSFER_SYNTAX
    assert mpeg2[:19].decode() in caught.value.message


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("name", "limits", "code"),
    [
        ("gen_monochrome1.dcm", ImagingLimits(max_file_bytes=1000), ErrorCode.TOO_LARGE),
        ("gen_monochrome1.dcm", ImagingLimits(max_frame_samples=64 * 80 - 1), ErrorCode.TOO_LARGE),
        ("gen_grey8.png", ImagingLimits(max_frame_samples=60 * 90 - 1), ErrorCode.TOO_LARGE),
        (
            "gen_multiframe.dcm",
            ImagingLimits(max_total_samples=24 * 30 * 7 - 1),
            ErrorCode.TOO_LARGE,
        ),
        ("gen_deflated.dcm", ImagingLimits(max_inflated_bytes=1000), ErrorCode.TOO_LARGE),
        ("gen_monochrome1.dcm", ImagingLimits(decode_timeout_s=1e-9), ErrorCode.DECODE_TIMEOUT),
        ("gen_rgb.jpg", ImagingLimits(decode_timeout_s=1e-9), ErrorCode.DECODE_TIMEOUT),
    ],
)
def test_limits_are_enforced_with_their_code(
    name: str, limits: ImagingLimits, code: ErrorCode, generated_corpus: dict[str, Path]
) -> None:
    # Given a valid file and a limit it exceeds
    # When it is read under that limit
    with pytest.raises(DicomlensError) as caught:
        read_image(generated_corpus[name], limits=limits)
    # Then it is refused with the limit's code
    assert caught.value.code == code


def test_a_file_just_within_the_limits_is_read(generated_corpus: dict[str, Path]) -> None:
    # Given limits exactly at the size of the multi-frame file
    limits = ImagingLimits(max_frame_samples=24 * 30, max_total_samples=24 * 30 * 7)
    # Then it is read
    assert read_image(generated_corpus["gen_multiframe.dcm"], limits=limits).has_image


# --------------------------------------------------------------------------- frames


def test_a_multi_frame_file_shows_its_middle_frame(generated_corpus: dict[str, Path]) -> None:
    # Given seven frames, frame k being the base ramp plus 100 k
    image = read_image(generated_corpus["gen_multiframe.dcm"], limits=LIMITS)
    first = read_image(generated_corpus["gen_multiframe.dcm"], limits=LIMITS, frame=0)
    # Then frame 3 (0-based) is decoded and the count is reported
    assert image.frame_index == 3
    assert image.frame_count == 7
    assert image.pixels is not None
    assert first.pixels is not None
    assert image.pixels.shape == (24, 30)
    assert np.array_equal(
        image.pixels.astype(int) - first.pixels.astype(int), np.full((24, 30), 300)
    )


def test_only_the_needed_frame_is_held_in_memory(tmp_path: Path) -> None:
    # Given a 64 MB file of 500 frames of 256 x 256 16-bit pixels
    ds = new_dataset(MR_IMAGE, 91, "MR")
    frame = ramp(256, 256, 0, 4000).astype(np.uint16)
    attach_grey(ds, frame[np.newaxis], bits_stored=16)
    ds.NumberOfFrames = 500
    ds.PixelData = np.broadcast_to(frame, (500, 256, 256)).tobytes()
    path = tmp_path / "many-frames.dcm"
    path.write_bytes(to_bytes(ds))
    # When it is read
    tracemalloc.start()
    try:
        image = read_image(path, limits=LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then one frame (128 kB), not the file, was held in memory
    assert image.frame_index == 250
    assert np.array_equal(image.pixels, frame)
    assert peak < 4 * 1024**2, f"peak {peak} bytes"


@pytest.mark.parametrize("name", [case.name for case in GENERATED if case.expect == "image"])
def test_every_generated_image_decodes(name: str, generated_corpus: dict[str, Path]) -> None:
    # Given a generated image file; Then it decodes to a non-empty picture
    image = read_image(generated_corpus[name], limits=LIMITS)
    assert image.pixels is not None
    assert image.pixels.size > 0


def test_asking_for_a_frame_that_does_not_exist_is_refused(
    generated_corpus: dict[str, Path],
) -> None:
    with pytest.raises(DicomlensError) as caught:
        read_image(generated_corpus["gen_multiframe.dcm"], limits=LIMITS, frame=7)
    assert caught.value.code == ErrorCode.VALIDATION_ERROR
    assert "7" in caught.value.message


def test_an_inflate_bomb_is_refused_without_inflating_it_into_memory(
    generated_corpus: dict[str, Path],
) -> None:
    # Given a 1 MB deflated file that inflates to 1 GiB
    tracemalloc.start()
    try:
        # When it is read
        with pytest.raises(DicomlensError) as caught:
            read_image(generated_corpus["gen_inflate_bomb.dcm"], limits=LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then it is refused as too large, having held a few MB at most
    assert caught.value.code == ErrorCode.TOO_LARGE
    assert peak < 32 * 1024**2, f"peak {peak} bytes"


def test_a_compressed_multi_frame_file_is_decoded_one_frame_at_a_time(tmp_path: Path) -> None:
    # Given 120 RLE-compressed frames of noise (about 4 MB, nothing compresses away)
    frames = np.random.default_rng(1).integers(0, 4000, (120, 128, 128)).astype(np.uint16)
    ds = new_dataset(MR_IMAGE, 92, "MR")
    attach_grey(ds, frames, bits_stored=16)
    ds.compress(RLELossless, frames, generate_instance_uid=False)
    path = tmp_path / "rle-frames.dcm"
    path.write_bytes(to_bytes(ds, syntax=RLELossless))
    # When it is read
    tracemalloc.start()
    try:
        image = read_image(path, limits=LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then the middle frame is right and far less than the file was held in memory
    assert np.array_equal(image.pixels, frames[60])
    assert peak < path.stat().st_size // 4, f"peak {peak} bytes"
