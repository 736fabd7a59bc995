"""A generated instance with a patient's name burned into its pixels (for reports and the
viewer): a secondary-capture-like US image, one frame or several; and the text-free body
section the OCR recall set and the text detector benchmark draw their text on."""

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


def anatomy(rng: np.random.Generator, *, dark: bool, side: int = 512) -> Image.Image:
    """A blob with texture: a stand-in for a body section (no text in it), on a dark or a
    bright background."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    cy, cx = side / 2 + rng.uniform(-20, 20), side / 2 + rng.uniform(-20, 20)
    ry, rx = rng.uniform(150, 190), rng.uniform(170, 210)
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    texture = rng.normal(0, 12, size=(side, side)).astype(np.float32)
    if dark:
        picture = np.where(inside, 110 + texture, 4 + texture / 4)
    else:
        picture = np.where(inside, 120 + texture, 225 + texture / 4)
    inner = ((yy - cy) / (ry / 3)) ** 2 + ((xx - cx - 40) / (rx / 4)) ** 2 <= 1
    picture = np.where(inner, picture + (60 if dark else -60), picture)
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8), mode="L")


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
