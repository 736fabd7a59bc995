"""The real corpus: DICOM files bundled with pydicom and with the pydicom-data package.

Both are read from the installed packages' folders (never through
``get_testdata_files("*")``, which tries the network and can hang offline).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pydicom.data


@cache
def real_files() -> tuple[Path, ...]:
    """Every ``*.dcm`` file of pydicom's test data and of pydicom-data, sorted by name.

    pydicom-data is optional: without it only pydicom's own files are listed.
    """
    folders = [Path(pydicom.data.__file__).parent / "test_files"]
    try:
        import data_store
    except ImportError:
        pass
    else:
        folders.append(Path(data_store.__file__).parent / "data")
    by_name: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.dcm")):
            by_name.setdefault(path.name, path)
    return tuple(by_name[name] for name in sorted(by_name))


# Real files that must fail, with the code a user sees: the corpus's deliberately broken files.
REAL_BROKEN = {
    # JPEG-lossy.dcm (a sequential 12-bit scan header with Se != 63) and
    # emri_small_jpeg_2k_lossless_too_short.dcm (whole fragments, no sequence delimiter)
    # used to be here: both are now decoded, with a finding, as DCMTK / GDCM do.
    "JPEG2000-embedded-sequence-delimiter.dcm": "INVALID_DICOM",  # item cut by a delimiter
    "MR_truncated.dcm": "TRUNCATED_PIXEL_DATA",
    "badVR.dcm": "INVALID_DICOM",  # Number of Frames "1A"
    # A stray byte before (0008,0005): neither pydicom nor DCMTK finds a dataset in it.
    "no_meta.dcm": "NOT_AN_IMAGE",
    # An RT plan cut inside (300A,00B0): an element that runs past the end of the file.
    "rtplan_truncated.dcm": "INVALID_DICOM",
}

# Real files without pixel data (SR, RT plan, DICOMDIR, tag-only test files): not an error.
REAL_NO_IMAGE = frozenset(
    {
        "DICOMDIR-empty.dcm",
        "ExplVR_BigEndNoMeta.dcm",
        "ExplVR_LitEndNoMeta.dcm",
        "UN_sequence.dcm",
        "empty_charset_LEI.dcm",
        "meta_missing_tsyntax.dcm",
        "nested_priv_SQ.dcm",
        "no_meta_group_length.dcm",
        "priv_SQ.dcm",
        "reportsi.dcm",
        "reportsi_with_empty_number_tags.dcm",
        "rtplan.dcm",
        "rtstruct.dcm",
        "test-SR.dcm",
        "waveform_ecg.dcm",
    }
)
