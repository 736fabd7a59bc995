"""DICOMweb (PS3.18): the instance index's values, QIDO matching, STOW, WADO and their
multipart and DICOM JSON bodies. The handlers in :mod:`dicomlens.handlers.dicomweb` are
thin wrappers over :mod:`dicomlens.services.dicomweb`."""
