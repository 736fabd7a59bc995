"""dicomlens: upload and analyse medical images (DICOM, PNG, JPEG)."""

__version__ = "0.1.0"
