"""A generated instance with a patient's name burned into its pixels (for reports and the
viewer): a secondary-capture-like US image, one frame or several."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    ExplicitVRLittleEndian,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
)

_ROOT = "1.2.826.0.1.3680043.8.498.99.15"  # pydicom's UID root + a fixed test branch
BURNED_TEXT = "HOLLOWAY^PRUDENCE 4471"
PATIENT_NAME = "HOLLOWAY^PRUDENCE"
PATIENT_ID = "MRN4471"


def burned_in_dataset(*, frames: int = 1, rows: int = 384, columns: int = 512) -> Dataset:
    """A US instance (frames x rows x columns, 8 bit) whose frames carry a speckled image
    and, at the top left, :data:`BURNED_TEXT` in large white letters."""
    rng = np.random.default_rng(15)
    canvas = (rng.random((rows, columns)) * 60 + 40).astype(np.uint8)
    yy, xx = np.mgrid[0:rows, 0:columns]
    canvas[((yy - rows * 0.6) ** 2 + (xx - columns * 0.5) ** 2) < (rows * 0.25) ** 2] += 90
    label = Image.new("L", (columns, 48), 0)
    ImageDraw.Draw(label).text((4, 4), BURNED_TEXT, fill=255, font=ImageFont.load_default(28))
    glyphs = np.asarray(label) > 60
    canvas[12 : 12 + 48][glyphs] = 255
    pixels = np.repeat(canvas[None], frames, axis=0)
    multi = frames > 1
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage if multi else UltrasoundImageStorage
    ds.SOPInstanceUID = f"{_ROOT}.3.{frames}"
    ds.StudyInstanceUID = f"{_ROOT}.1"
    ds.SeriesInstanceUID = f"{_ROOT}.2.{frames}"
    ds.Modality = "US"
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = "19580213"
    ds.PatientSex = "F"
    ds.StudyDate, ds.StudyTime = "20250301", "093000"
    ds.AccessionNumber = "ACC4471"
    ds.StudyID = "4471"
    ds.ReferringPhysicianName = "REFERRER^ROSA"
    ds.StudyDescription = "generated burned-in text"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.BodyPartExamined = "ABDOMEN"
    ds.Manufacturer = "dicomlens tests"
    ds.PatientOrientation = ""
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = "NO"
    ds.Rows, ds.Columns = rows, columns
    if multi:
        ds.NumberOfFrames = frames
        ds.FrameIncrementPointer = 0x00181063
        ds.FrameTime = 40
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels.tobytes()
    return ds


def burned_in_file(*, frames: int = 1) -> bytes:
    """:func:`burned_in_dataset` as a DICOM file."""
    out = io.BytesIO()
    dcmwrite(out, burned_in_dataset(frames=frames), enforce_file_format=True)
    return out.getvalue()
