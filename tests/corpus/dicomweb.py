"""The DICOMweb corpus: two patients, three generated studies, plus pydicom's example files.

Generated (deterministic: fixed UIDs, pixel values from formulas):

- Patient ``Quinn^Avery^Jo^Dr`` (``DLW-0001``)
  - study A, 2024-03-15 10:15, ``ACC24031501``, "CT CHEST WITH CONTRAST":
    a CT series of 20 slices 512x512 16-bit (12 stored) with rescale and two windows, and
    an MR series of 3 slices 256x256; Explicit VR Little Endian.
  - study B, 2024-04-02 14:30, ``ACC24040207``, "ABDOMEN FOLLOW-UP": a multi-frame
    grayscale secondary capture (8 frames, RLE Lossless) and a CT series of 2 slices in
    JPEG 2000 lossless.
- Patient ``Müller^Jürgen`` (``DLW-0002``, UTF-8 ``ISO_IR 192``)
  - study C, 2023-11-20 08:30, ``ACC23112003``, "MR KNEE": 2 MR slices 128x128.

Plus the example files that ship inside the pydicom wheel (``pydicom.examples``: CT, MR,
RGB, JPEG 2000, palette colour, overlay, multi-frame RT dose). No real patient data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread, examples
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

_ROOT = "1.2.826.0.1.3680043.8.498.77"  # pydicom's UID root + a fixed DICOMweb test branch
CT_IMAGE = UID("1.2.840.10008.5.1.4.1.1.2")
MR_IMAGE = UID("1.2.840.10008.5.1.4.1.1.4")
MULTIFRAME_WORD_SC = UID("1.2.840.10008.5.1.4.1.1.7.3")

PATIENT_1 = ("Quinn^Avery^Jo^Dr", "DLW-0001", "19700101", "F")
PATIENT_2 = ("Müller^Jürgen", "DLW-0002", "19650412", "M")
EXAMPLES = ("ct", "mr", "rgb_color", "jpeg2k", "palette_color", "overlay", "rt_dose")


@dataclass(frozen=True, kw_only=True)
class _Study:
    number: int
    patient: tuple[str, str, str, str]
    date: str
    time: str
    accession: str
    description: str
    referring: str


@dataclass(frozen=True, kw_only=True)
class _Series:
    study: _Study
    number: int
    modality: str
    description: str
    time: str


STUDY_A = _Study(
    number=1,
    patient=PATIENT_1,
    date="20240315",
    time="101500",
    accession="ACC24031501",
    description="CT CHEST WITH CONTRAST",
    referring="Rivera^Sam",
)
STUDY_B = _Study(
    number=2,
    patient=PATIENT_1,
    date="20240402",
    time="143000",
    accession="ACC24040207",
    description="ABDOMEN FOLLOW-UP",
    referring="Rivera^Sam",
)
STUDY_C = _Study(
    number=3,
    patient=PATIENT_2,
    date="20231120",
    time="083000",
    accession="ACC23112003",
    description="MR KNEE",
    referring="Okafor^Ngozi",
)


def study_uid(study: _Study) -> str:
    """The Study Instance UID of a generated study."""
    return f"{_ROOT}.1.{study.number}"


def _series_uid(series: _Series) -> str:
    return f"{_ROOT}.2.{series.study.number}.{series.number}"


def _instance(series: _Series, sop_class: UID, index: int) -> Dataset:
    """The patient/study/series/instance attributes of one generated instance."""
    study = series.study
    sop_uid = f"{_ROOT}.3.{study.number}.{series.number}.{index + 1}"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = f"{_ROOT}.0"
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = study.patient
    ds.StudyInstanceUID = study_uid(study)
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.date
    ds.StudyTime = study.time
    ds.SeriesTime = ds.ContentTime = series.time
    ds.AccessionNumber = study.accession
    ds.StudyDescription = study.description
    ds.ReferringPhysicianName = study.referring
    ds.StudyID = f"S{study.number}"
    ds.SeriesInstanceUID = _series_uid(series)
    ds.SeriesNumber = series.number
    ds.SeriesDescription = series.description
    ds.Modality = series.modality
    ds.InstanceNumber = index + 1
    ds.Manufacturer = "dicomlens tests"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    return ds


def _attach_pixels(ds: Dataset, arr: np.ndarray, *, bits_stored: int) -> None:
    """Native little-endian unsigned grayscale pixels (rows x columns or frames x ...)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = arr.shape[-2:]
    if arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = arr.astype("<u2").tobytes()


def _ct_phantom(index: int, size: int = 512) -> np.ndarray:
    """Stored values (HU + 1024) of a chest-like phantom slice: air, body, lungs, spine."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size
    hu = np.full((size, size), -1000.0)
    body = ((x - 0.5) / 0.42) ** 2 + ((y - 0.5) / 0.32) ** 2 < 1
    hu[body] = 40 + 20 * np.sin(8 * x[body] + index / 3)
    for centre in (0.33, 0.67):
        lung = ((x - centre) / (0.12 + index / 800)) ** 2 + ((y - 0.47) / 0.2) ** 2 < 1
        hu[lung] = -820
    spine = (x - 0.5) ** 2 + (y - 0.72) ** 2 < 0.045**2
    hu[spine] = 700
    return np.clip(np.rint(hu + 1024), 0, 4095).astype(np.uint16)


def _mr_pattern(index: int, size: int) -> np.ndarray:
    """A smooth MR-like blob pattern with values up to about 1500."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size
    blob = np.exp(-(((x - 0.5) ** 2 + (y - 0.5 - index / 50) ** 2) / 0.08))
    return np.rint(1500 * blob * (0.6 + 0.4 * np.cos(12 * x))).astype(np.uint16)


def _ct_slice(series: _Series, index: int) -> Dataset:
    ds = _instance(series, CT_IMAGE, index)
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.WindowCenter = [40, -600]
    ds.WindowWidth = [400, 1500]
    ds.WindowCenterWidthExplanation = ["SOFT TISSUE", "LUNG"]
    ds.SliceThickness = 5
    ds.ImagePositionPatient = [-250, -250, -5 * index]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.9765625, 0.9765625]
    ds.KVP = 120
    _attach_pixels(ds, _ct_phantom(index), bits_stored=12)
    return ds


def _mr_slice(series: _Series, index: int, size: int) -> Dataset:
    ds = _instance(series, MR_IMAGE, index)
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.EchoTime = 90
    ds.RepetitionTime = 4000
    _attach_pixels(ds, _mr_pattern(index, size), bits_stored=12)
    return ds


def generated_datasets() -> list[Dataset]:
    """Every generated instance, in a fixed order, encoded as it will be written."""
    ct = _Series(study=STUDY_A, number=1, modality="CT", description="CHEST 5mm", time="101700")
    mr = _Series(study=STUDY_A, number=2, modality="MR", description="T2 AX", time="102000")
    frames = _Series(study=STUDY_B, number=3, modality="OT", description="CINE LOOP", time="143500")
    j2k = _Series(study=STUDY_B, number=4, modality="CT", description="ABD J2K", time="144000")
    knee = _Series(study=STUDY_C, number=5, modality="MR", description="PD SAG", time="083500")
    out = [_ct_slice(ct, index) for index in range(20)]
    out += [_mr_slice(mr, index, 256) for index in range(3)]
    cine = _instance(frames, MULTIFRAME_WORD_SC, 0)
    stack = np.stack([_mr_pattern(frame, 128) for frame in range(8)])
    _attach_pixels(cine, stack, bits_stored=12)
    cine.compress(RLELossless, stack, generate_instance_uid=False)
    out.append(cine)
    for index in range(2):
        ds = _ct_slice(j2k, index)
        ds.compress(JPEG2000Lossless, _ct_phantom(index + 7), generate_instance_uid=False)
        out.append(ds)
    out += [_mr_slice(knee, index, 128) for index in range(2)]
    return out


STUDY_VOLUME = _Study(
    number=4,
    patient=PATIENT_1,
    date="20240610",
    time="091000",
    accession="ACC24061011",
    description="CT CHEST THIN",
    referring="Rivera^Sam",
)


def ct_volume(slices: int, *, spacing_mm: float = 1.0) -> list[Dataset]:
    """A thin-slice CT series of ``slices`` 512x512 slices (study ``STUDY_VOLUME``), as a
    scanner writes it: one Image Position (Patient) per slice ``spacing_mm`` apart, the
    same orientation, rescale to HU and two windows; fixed UIDs, pixels from a phantom."""
    series = _Series(
        study=STUDY_VOLUME, number=6, modality="CT", description="CHEST 1mm", time="091200"
    )
    out = []
    for index in range(slices):
        ds = _ct_slice(series, index)
        ds.SliceThickness = spacing_mm
        ds.ImagePositionPatient = [-250, -250, -spacing_mm * index]
        ds.SliceLocation = -spacing_mm * index
        out.append(ds)
    return out


@dataclass(frozen=True)
class DicomwebCorpus:
    """The written corpus: each file and its data set as read back from disk."""

    paths: tuple[Path, ...]
    datasets: tuple[Dataset, ...]

    def by_sop(self) -> dict[str, Dataset]:
        """SOP Instance UID -> data set."""
        return {str(ds.SOPInstanceUID): ds for ds in self.datasets}

    def studies(self) -> dict[str, list[Dataset]]:
        """Study Instance UID -> its instances."""
        return _group(self.datasets, "StudyInstanceUID")

    def series(self) -> dict[str, list[Dataset]]:
        """Series Instance UID -> its instances."""
        return _group(self.datasets, "SeriesInstanceUID")


def _group(datasets: Iterable[Dataset], keyword: str) -> dict[str, list[Dataset]]:
    groups: dict[str, list[Dataset]] = defaultdict(list)
    for ds in datasets:
        groups[str(ds[keyword].value)].append(ds)
    return dict(groups)


def write_dicomweb_corpus(folder: Path) -> DicomwebCorpus:
    """Write the generated instances and copy pydicom's examples into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, ds in enumerate(generated_datasets()):
        path = folder / f"generated_{number:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    for name in EXAMPLES:
        source = Path(str(getattr(examples, name).filename))
        path = folder / f"example_{name}.dcm"
        path.write_bytes(source.read_bytes())
        paths.append(path)
    return DicomwebCorpus(paths=tuple(paths), datasets=tuple(dcmread(path) for path in paths))


STUDY_D = _Study(
    number=4,
    patient=PATIENT_2,
    date="20250610",
    time="091500",
    accession="ACC25061004",
    description="CT THORAX FOLLOW-UP",
    referring="Okafor^Ngozi",
)


def three_series_study() -> list[Dataset]:
    """A study of three series for the upload page: two CT series (14 and 3 slices of 512x512)
    and an MR series (3 slices of 256x256); its own UIDs (none shared with the corpus)."""
    lung = _Series(study=STUDY_D, number=1, modality="CT", description="THORAX 5mm", time="091700")
    bone = _Series(study=STUDY_D, number=2, modality="CT", description="THORAX BONE", time="091800")
    mr = _Series(study=STUDY_D, number=3, modality="MR", description="T2 COR", time="093000")
    out = [_ct_slice(lung, index) for index in range(14)]
    out += [_ct_slice(bone, index) for index in range(3)]
    out += [_mr_slice(mr, index, 256) for index in range(3)]
    return out
