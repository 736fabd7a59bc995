"""Decoding large frames smaller for pictures that need fewer pixels (issue 16, large images).

Oracles: OpenJPH (an HTJ2K implementation independent of OpenJPEG, the decoder under test)
for JPEG 2000 / HTJ2K resolution levels and for HTJ2K lossless round trips; plain numpy
block means over the full frame for native data.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian

from corpus.large_images import (
    ct_slice,
    htj2k_codestream,
    image_dataset,
    mammogram,
    openjph_reduced,
    save_htj2k,
    save_j2k,
)
from dicomlens.analysis import pipeline
from dicomlens.analysis.analyzers.faces import HaarFaceDetector
from dicomlens.analysis.analyzers.ocr import BurnedInTextReader
from dicomlens.analysis.analyzers.spec import PHOTOGRAPHS, FrameRequirement, ImageScope
from dicomlens.imaging.codestream_header import BufferBytes, read_j2k_levels
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.j2k_reduced import decode_at_level, reduction_levels
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.native_frame import read_native_frame_reduced, reduction_factor

LIMITS = ImagingLimits()


def block_means(frame: np.ndarray, k: int) -> np.ndarray:
    """The oracle: rounded means of k x k blocks (smaller at the edges), in float64."""
    rows, columns = frame.shape[:2]
    out = np.empty((-(-rows // k), -(-columns // k), *frame.shape[2:]))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = frame[i * k : (i + 1) * k, j * k : (j + 1) * k].astype(np.float64)
            out[i, j] = block.mean(axis=(0, 1))
    return np.rint(out).astype(frame.dtype)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


# ---- how much to reduce -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "columns", "levels", "side", "expected"),
    [
        (5120, 4096, 5, 1024, 2),  # 1280 x 1024
        (5120, 4096, 1, 1024, 1),  # the codestream has one level only
        (2046, 1000, 5, 1024, 0),  # half would be 1023
        (2047, 1000, 5, 1024, 1),  # ceil(2047 / 2) = 1024
        (4097, 10, 5, 1024, 2),  # ceil(4097 / 4) = 1025
        (512, 512, 5, 256, 1),
    ],
)
def test_reduction_levels_keep_the_long_side_at_least_the_side(
    rows: int, columns: int, levels: int, side: int, expected: int
) -> None:
    assert reduction_levels(rows, columns, levels, side) == expected
    reduced = -(-max(rows, columns) // 2**expected)
    assert reduced >= side or expected == 0


@pytest.mark.parametrize(
    ("rows", "columns", "side", "expected"),
    [(5120, 4096, 1024, 5), (1024, 1024, 1024, 1), (3000, 200, 1024, 2), (10, 10, 0, 10)],
)
def test_native_reduction_factor(rows: int, columns: int, side: int, expected: int) -> None:
    assert reduction_factor(rows, columns, side) == expected


# ---- JPEG 2000 decomposition levels ------------------------------------------------------


def _codestream_header(cod_levels: int, coc_levels: tuple[int, ...]) -> bytes:
    """SOC, SIZ (1024 x 1024, one 12-bit component), COD, COCs, SOT: a main header."""
    siz = struct.pack(">HHHIIIIIIIIH", 0xFF51, 41, 0, 1024, 1024, 0, 0, 1024, 1024, 0, 0, 1)
    siz += bytes([11, 1, 1])
    cod = struct.pack(">HHB BHB B", 0xFF52, 12, 0, 0, 1, 0, cod_levels) + bytes(4)
    cocs = b"".join(
        struct.pack(">HHBBB", 0xFF53, 9, 0, 0, levels) + bytes(4) for levels in coc_levels
    )
    return b"\xff\x4f" + siz + cod + cocs + b"\xff\x90\x00\x0a" + bytes(8)


@pytest.mark.parametrize(("cod", "cocs", "expected"), [(5, (), 5), (5, (2,), 2), (3, (4, 6), 3)])
def test_levels_are_the_fewest_of_cod_and_coc(
    cod: int, cocs: tuple[int, ...], expected: int
) -> None:
    assert read_j2k_levels(BufferBytes(_codestream_header(cod, cocs))) == expected


@pytest.mark.parametrize("decompositions", [1, 3, 5])
def test_levels_of_an_encoded_codestream(decompositions: int) -> None:
    codestream = htj2k_codestream(ct_slice(128), decompositions=decompositions)
    assert read_j2k_levels(BufferBytes(codestream)) == decompositions


# ---- HTJ2K: lossless round trip and reduced levels against OpenJPH ------------------------


CASES = {
    "unsigned 12-bit mammogram": (lambda: mammogram(600, 480), 12),
    "signed 16-bit CT": (lambda: ct_slice(512), 16),
}


@pytest.mark.parametrize("rpcl", [False, True], ids=["HTJ2K lossless", "HTJ2K RPCL lossless"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_htj2k_decodes_to_its_lossless_source(case: str, rpcl: bool, tmp_path: Path) -> None:
    make, bits = CASES[case]
    source = make()
    codestream = htj2k_codestream(source, rpcl=rpcl)
    path = save_htj2k(image_dataset(source, bits_stored=bits), codestream, tmp_path / "f.dcm")
    image = read_image(path, limits=LIMITS)
    assert image.pixels is not None and image.reduction == 1
    assert image.pixels.dtype == source.dtype
    np.testing.assert_array_equal(image.pixels, source)


@pytest.mark.parametrize("levels", [1, 2, 3])
@pytest.mark.parametrize("case", sorted(CASES))
def test_htj2k_levels_equal_openjph_s(case: str, levels: int) -> None:
    make, bits = CASES[case]
    source = make()
    codestream = htj2k_codestream(source)
    reduced = decode_at_level(codestream, image_dataset(source, bits_stored=bits), levels)
    assert reduced is not None
    assert reduced.dtype == source.dtype
    np.testing.assert_array_equal(reduced, openjph_reduced(codestream, levels))


@pytest.mark.parametrize("case", sorted(CASES))
def test_jpeg_2000_levels_equal_openjph_s_of_the_same_source(case: str, tmp_path: Path) -> None:
    """The lossless (5/3) low-pass band does not depend on the encoder: OpenJPEG's J2K and
    OpenJPH's HTJ2K encodings of one source reduce to the same values."""
    make, bits = CASES[case]
    source = make()
    ds = image_dataset(source, bits_stored=bits)
    path = save_j2k(ds, tmp_path / "j2k.dcm")
    image = read_image(path, limits=LIMITS, max_side=max(source.shape) // 4)
    assert image.reduction == 4
    assert image.pixels is not None
    np.testing.assert_array_equal(image.pixels, openjph_reduced(htj2k_codestream(source), 2))
    assert image.frame_size == source.shape


def test_a_frame_not_twice_the_side_is_decoded_whole(tmp_path: Path) -> None:
    source = mammogram(600, 480)
    path = save_htj2k(
        image_dataset(source, bits_stored=12), htj2k_codestream(source), tmp_path / "f.dcm"
    )
    image = read_image(path, limits=LIMITS, max_side=301)
    assert image.reduction == 1
    np.testing.assert_array_equal(image.pixels, source)


def test_a_sign_mismatch_is_decoded_whole(tmp_path: Path) -> None:
    """A codestream whose sign disagrees with Pixel Representation goes to the full decoder,
    which knows how to correct it."""
    source = ct_slice(512)
    codestream = htj2k_codestream(source)
    ds = image_dataset(source.view(np.uint16), bits_stored=16)  # says unsigned
    assert decode_at_level(codestream, ds, 1) is None


# ---- native data: block means read in strips ------------------------------------------


def _native_file(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("shape", [(1000, 700), (999, 701)])
def test_native_blocks_are_the_means_of_the_frame(shape: tuple[int, int], tmp_path: Path) -> None:
    source = mammogram(*shape)
    path = _native_file(image_dataset(source, bits_stored=12), tmp_path / "n.dcm")
    image = read_image(path, limits=LIMITS, max_side=200)
    k = reduction_factor(*shape, 200)
    assert image.reduction == k >= 4
    np.testing.assert_array_equal(image.pixels, block_means(source, k))
    assert image.frame_size == shape


def test_native_blocks_mask_unused_high_bits_and_sign_extend(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(-2048, 2048, (600, 400)).astype(np.int16)
    garbage = (values.view(np.uint16) & 0x0FFF) | 0xA000  # high bits set, not part of the value
    ds = image_dataset(values, bits_stored=12)
    ds.PixelData = garbage.astype("<u2").tobytes()
    image = read_image(_native_file(ds, tmp_path / "n.dcm"), limits=LIMITS, max_side=100)
    assert image.reduction == 6
    np.testing.assert_array_equal(image.pixels, block_means(values, 6))


def test_native_blocks_of_big_endian_data(tmp_path: Path) -> None:
    source = ct_slice(600)
    ds = image_dataset(source, bits_stored=16)
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    ds.PixelData = source.astype(">i2").tobytes()
    path = tmp_path / "be.dcm"
    ds.save_as(path, enforce_file_format=True, little_endian=False, implicit_vr=False)
    image = read_image(path, limits=LIMITS, max_side=150)
    np.testing.assert_array_equal(image.pixels, block_means(source, 4))


@pytest.mark.parametrize("planar", [0, 1])
def test_native_rgb_blocks(planar: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    source = rng.integers(0, 256, (500, 300, 3)).astype(np.uint8)
    ds = image_dataset(source, bits_stored=8, modality="XC", photometric="RGB")
    ds.PlanarConfiguration = planar
    ds.PixelData = (source.transpose(2, 0, 1) if planar else source).tobytes()
    image = read_image(_native_file(ds, tmp_path / "rgb.dcm"), limits=LIMITS, max_side=100)
    np.testing.assert_array_equal(image.pixels, block_means(source, 5))


def test_native_palette_indices_are_sampled_not_averaged(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    indices = rng.integers(0, 256, (400, 400)).astype(np.uint8)
    ds = image_dataset(indices, bits_stored=8, modality="OT", photometric="PALETTE COLOR")
    for colour in ("Red", "Green", "Blue"):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", np.arange(256, dtype="<u2").tobytes())
    path = _native_file(ds, tmp_path / "pal.dcm")
    reduced = read_native_frame_reduced(path, ds, _pixel_offset(path), 0, little=True, max_side=100)
    assert reduced is not None
    np.testing.assert_array_equal(reduced[0], indices[::4, ::4])


def test_native_blocks_of_the_chosen_frame(tmp_path: Path) -> None:
    frames = np.stack([mammogram(400, 300, seed=s) for s in range(3)])
    ds = image_dataset(frames[0], bits_stored=12)
    ds.NumberOfFrames = 3
    ds.PixelData = frames.tobytes()
    image = read_image(_native_file(ds, tmp_path / "mf.dcm"), limits=LIMITS, frame=2, max_side=100)
    np.testing.assert_array_equal(image.pixels, block_means(frames[2], 4))


def _pixel_offset(path: Path) -> int:
    data = path.read_bytes()
    at = data.rindex(b"\xe0\x7f\x10\x00")
    return at + 12  # tag, VR "OB"/"OW", reserved, 32-bit length


# ---- the pipeline and what the analyzers need ------------------------------------------


def test_decode_side_is_the_largest_an_analyzer_looks_at() -> None:
    assert pipeline.decode_side(()) == pipeline.PREVIEW_MAX
    ocr, faces = BurnedInTextReader(), HaarFaceDetector()
    assert pipeline.decode_side((ocr, faces)) == max(pipeline.PREVIEW_MAX, 1024)

    class Cloud:
        name = "cloud"

        def analyze(self, frame: object) -> object:
            raise NotImplementedError

    class Greedy(Cloud):
        frame_requirement = FrameRequirement(max_side=4000)

    assert pipeline.decode_side((ocr, Cloud())) is None  # type: ignore[arg-type]
    assert pipeline.decode_side((Greedy(),)) == 4000  # type: ignore[arg-type]


def reductions_of_reads(module: object, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ``DecodedImage.reduction`` of every ``read_image`` call ``module`` makes from now
    on (the list fills as it reads)."""
    decoded: list[int] = []
    real_read = module.read_image  # type: ignore[attr-defined]

    def spy(*args: object, **kwargs: object) -> object:
        image = real_read(*args, **kwargs)
        decoded.append(image.reduction)
        return image

    monkeypatch.setattr(module, "read_image", spy)
    return decoded


class Looker:
    """An analyzer that looks at up to ``side`` pixels, of pictures in ``scope``."""

    def __init__(self, name: str, side: int, scope: ImageScope) -> None:
        self.name = name
        self.frame_requirement = FrameRequirement(max_side=side)
        self.image_scope = scope

    def analyze(self, frame: object) -> object:
        raise NotImplementedError


PHOTO_CLASSIFIER = Looker("photo-classifier", 2560, PHOTOGRAPHS)
CT_ONLY = Looker("ct-model", 3000, ImageScope(modalities=frozenset({"CT"})))
ANY = Looker("any", 1100, ImageScope())


@pytest.mark.parametrize(
    ("modality", "photometric", "side"),
    [
        ("MG", "MONOCHROME2", 1100),  # certainly medical: no photographs, not CT
        ("OT", "MONOCHROME1", 1100),  # grayscale rendering: not a photograph whatever the modality
        ("CT", "MONOCHROME2", 3000),  # the CT model applies
        ("US", "RGB", 1100),  # colour, but an ultrasound is never a photograph
        ("XC", "RGB", 2560),  # a colour photograph may be one: the classifier counts
        ("OT", "YBR_FULL_422", 2560),  # colour secondary capture: its pixels will decide
        ("", "RGB", 2560),  # no Modality: the CT model is out, the pixels decide the rest
    ],
)
def test_analyzers_certain_to_be_skipped_for_a_header_do_not_enlarge_the_decode(
    modality: str, photometric: str, side: int
) -> None:
    header = Dataset()
    header.Modality = modality
    header.PhotometricInterpretation = photometric
    analyzers = (PHOTO_CLASSIFIER, CT_ONLY, ANY)
    assert pipeline.decode_side(analyzers, header) == side  # type: ignore[arg-type]
    assert pipeline.decode_side(analyzers) == 3000  # type: ignore[arg-type]  # no header: all count


def test_a_grayscale_mammogram_is_decoded_for_the_analyzers_that_will_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the default kind of analyzer set (a photographs-only classifier looking at
    2560 px), a 2600-px grayscale frame is decoded at the others' size, and the classifier
    is skipped as the header foretold."""
    path = _native_file(image_dataset(mammogram(2600, 2100), bits_stored=12), tmp_path / "m.dcm")
    decoded = reductions_of_reads(pipeline, monkeypatch)

    class Silent(Looker):
        def analyze(self, frame: object) -> object:
            from dicomlens.ports import AnalyzerOutput

            return AnalyzerOutput()

    classifier = Silent("photo-classifier", 2560, PHOTOGRAPHS)
    reader = Silent("reader", 1100, ImageScope())
    options = pipeline.AnalysisOptions(analyzers=(classifier, reader))  # type: ignore[arg-type]
    result = pipeline.analyze_file(path, options).result
    assert decoded == [2]  # 2600 -> 1300 >= 1100, where 2560 would have kept it whole
    assert [skip.name for skip in result.skipped_analyzers] == ["photo-classifier"]


@pytest.mark.parametrize("kind", ["htj2k", "j2k", "native"])
def test_previews_from_a_reduced_frame_match_the_full_frame_s(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same sizes as from the full frame, and within 40 dB PSNR (visually the same)."""
    source = mammogram(2600, 2100)
    ds = image_dataset(source, bits_stored=12)
    ds.WindowCenter, ds.WindowWidth = 2000, 3000
    if kind == "htj2k":
        path = save_htj2k(ds, htj2k_codestream(source), tmp_path / "f.dcm")
    elif kind == "j2k":
        path = save_j2k(ds, tmp_path / "f.dcm")
    else:
        path = _native_file(ds, tmp_path / "f.dcm")
    reduced = pipeline.analyze_file(path)
    monkeypatch.setattr(pipeline, "decode_side", lambda analyzers, header=None: None)
    full = pipeline.analyze_file(path)
    assert reduced.result.preview_size == full.result.preview_size
    assert reduced.result.window == full.result.window
    for name in ("preview.png", "thumbnail.png"):
        a = np.asarray(Image.open(io.BytesIO(reduced.images[name])))
        b = np.asarray(Image.open(io.BytesIO(full.images[name])))
        assert a.shape == b.shape
        assert psnr(a, b) >= 40, name


# ---- JPEG uploads: libjpeg's scaled DCT ---------------------------------------------------


def _photo(path: Path, *, orientation: int | None = None) -> Path:
    y, x = np.mgrid[0:1500, 0:2000]
    rgb = np.stack([(x / 8) % 256, (y / 6) % 256, ((x + y) / 10) % 256], axis=-1)
    picture = Image.fromarray(rgb.astype(np.uint8))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    picture.save(path, quality=92, exif=exif.tobytes())
    return path


@pytest.mark.parametrize(("orientation", "full"), [(None, (1500, 2000)), (6, (2000, 1500))])
def test_a_large_jpeg_is_decoded_at_a_scaled_dct_and_keeps_its_size(
    orientation: int | None, full: tuple[int, int], tmp_path: Path
) -> None:
    path = _photo(tmp_path / "photo.jpg", orientation=orientation)
    image = read_image(path, limits=LIMITS, max_side=500)
    assert image.reduction == 4  # 2000 / 4 = 500
    assert image.pixels is not None and image.pixels.shape[:2] == (full[0] // 4, full[1] // 4)
    assert image.frame_size == full
    result = pipeline.analyze_file(path).result
    assert (result.summary.rows, result.summary.columns) == full


def test_a_jpeg_preview_from_the_scaled_dct_matches_the_full_decode_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _photo(tmp_path / "photo.jpg")
    monkeypatch.setattr(pipeline, "PREVIEW_MAX", 400)
    reduced = pipeline.analyze_file(path)
    monkeypatch.setattr(pipeline, "decode_side", lambda analyzers, header=None: None)
    full = pipeline.analyze_file(path)
    assert reduced.result.preview_size == full.result.preview_size
    a = np.asarray(Image.open(io.BytesIO(reduced.images["preview.png"])))
    b = np.asarray(Image.open(io.BytesIO(full.images["preview.png"])))
    assert psnr(a, b) >= 35


# ---- DICOMweb pictures: thumbnails and viewport-fitted renderings ------------------------


@pytest.mark.parametrize("kind", ["thumbnail", "rendered"])
def test_dicomweb_pictures_of_a_large_frame_decode_it_smaller_and_look_the_same(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dicomlens.dicomweb import rendered

    source = mammogram(2600, 2100)
    path = save_j2k(image_dataset(source, bits_stored=12), tmp_path / "f.dcm")
    real_read = rendered.read_image
    decoded = reductions_of_reads(rendered, monkeypatch)

    def picture() -> np.ndarray:
        if kind == "thumbnail":
            data = rendered.thumbnail(path, media_type="image/png", limits=LIMITS)
        else:
            params = rendered.RenderParams(viewport=rendered.Viewport(width=300, height=300))
            data = rendered.render_frame(
                path, frame=1, params=params, media_type="image/png", limits=LIMITS
            )
        return np.asarray(Image.open(io.BytesIO(data)))

    small = picture()
    assert decoded[-1] > 1  # decoded smaller
    # the same picture from the full frame
    monkeypatch.setattr(rendered, "_whole_frame_side", lambda viewport: None)
    monkeypatch.setattr(
        rendered, "read_image", lambda *a, **k: real_read(*a, **{**k, "max_side": None})
    )
    full = picture()
    assert small.shape == full.shape
    assert psnr(small, full) >= 40
