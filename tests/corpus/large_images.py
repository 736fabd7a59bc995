"""Generated large images and their JPEG 2000 / HTJ2K encodings, for reduced-resolution
decoding tests and the large-image benchmark.

HTJ2K codestreams are made by OpenJPH (through ``imagecodecs``), an implementation
independent of the OpenJPEG decoder under test, which also gives the oracle for decoding at
a reduced resolution. Classic JPEG 2000 comes from pydicom's encoder (pylibjpeg-openjpeg).
Debian's OpenJPH 0.9 tools are not used: they encode negative samples out of range.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

HTJ2K_LOSSLESS = UID("1.2.840.10008.1.2.4.201")
HTJ2K_RPCL_LOSSLESS = UID("1.2.840.10008.1.2.4.202")


def mammogram(rows: int, columns: int, *, seed: int = 0) -> np.ndarray:
    """A 12-bit mammogram-like frame (uint16): a smooth breast shape over a dark background,
    with noise and fine structure, and a sharp skin line."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float32)
    breast = np.exp(
        -(((x - 0.35 * columns) / (0.35 * columns)) ** 2 + ((y - rows / 2) / (0.45 * rows)) ** 2)
    )
    texture = 120 * np.sin(x / 7.0) * np.cos(y / 11.0)
    frame = 300 + 3000 * breast + texture * breast + rng.normal(0, 25, (rows, columns))
    frame[:, int(0.75 * columns) :] = 60 + rng.normal(0, 5, (rows, columns - int(0.75 * columns)))
    return np.clip(frame, 0, 4095).astype(np.uint16)


def ct_slice(size: int, *, seed: int = 1) -> np.ndarray:
    """A signed 16-bit CT-like slice (int16, HU-like values down to -1024)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    body = ((x - size / 2) ** 2 + (y - size / 2) ** 2) < (0.42 * size) ** 2
    frame = np.where(body, 40 + rng.normal(0, 20, (size, size)), -1000)
    frame[body & (np.abs(x - size / 2) < size / 20)] = 900  # a bone
    return frame.astype(np.int16)


def image_dataset(
    pixels: np.ndarray, *, bits_stored: int, modality: str = "MG", photometric: str = "MONOCHROME2"
) -> Dataset:
    """A Secondary-Capture-like dataset holding ``pixels`` natively (little endian)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.7")
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 1 if pixels.ndim == 2 else pixels.shape[2]
    ds.PhotometricInterpretation = photometric
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(pixels.dtype.kind == "i")
    ds.PixelData = pixels.tobytes()
    return ds


def save_j2k(ds: Dataset, path: Path) -> Path:
    """``ds`` compressed as JPEG 2000 lossless (pylibjpeg-openjpeg) and saved at ``path``."""
    copy = Dataset(ds)
    copy.file_meta = FileMetaDataset(ds.file_meta)
    copy.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    copy.save_as(path, enforce_file_format=True)
    return path


def htj2k_codestream(pixels: np.ndarray, *, decompositions: int = 5, rpcl: bool = False) -> bytes:
    """A reversible (lossless) HTJ2K codestream of ``pixels``, made by OpenJPH."""
    import imagecodecs

    return bytes(
        imagecodecs.htj2k_encode(pixels, reversible=True, resolutions=decompositions, tlm=rpcl)
    )


def save_htj2k(ds: Dataset, codestream: bytes, path: Path, *, rpcl: bool = False) -> Path:
    """``ds`` with ``codestream`` as its one frame, under an HTJ2K lossless syntax."""
    copy = Dataset(ds)
    copy.file_meta = FileMetaDataset(ds.file_meta)
    copy.file_meta.TransferSyntaxUID = HTJ2K_RPCL_LOSSLESS if rpcl else HTJ2K_LOSSLESS
    copy.PixelData = encapsulate([codestream])
    copy["PixelData"].VR = "OB"
    copy.save_as(path, enforce_file_format=True)
    return path


def openjph_reduced(codestream: bytes, levels: int) -> np.ndarray:
    """The frame with its ``levels`` finest resolution levels skipped, as OpenJPH
    reconstructs it: the oracle for the reduced decoder."""
    import imagecodecs

    return np.asarray(imagecodecs.htj2k_decode(codestream, skipres=levels))
