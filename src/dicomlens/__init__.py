"""dicomlens: upload and analyse medical images (DICOM, PNG, JPEG)."""

from dicomlens import pydicom_downloads

__version__ = "0.1.0"

pydicom_downloads.install()  # pydicom's example downloader without requests/tqdm (~70 ms)
