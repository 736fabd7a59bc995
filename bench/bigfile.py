"""Write a large multi-frame DICOM without holding it in memory (for memory benchmarks)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def write_multiframe(path: Path, *, frames: int, rows: int = 512, columns: int = 512) -> int:
    """Write ``frames`` frames of 16-bit MONOCHROME2 to ``path``; return the file size."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns = rows, columns
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    header = io.BytesIO()
    ds.save_as(header, enforce_file_format=True)
    frame_bytes = rows * columns * 2
    ramp = (np.add.outer(np.arange(rows), np.arange(columns)) % 4096).astype("<u2")
    with path.open("wb") as f:
        f.write(header.getvalue())
        f.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, frame_bytes * frames))
        for index in range(frames):
            f.write(((ramp + index) % 4096).astype("<u2").tobytes())
    return path.stat().st_size
