"""Example files for the page's "try a sample" button: pydicom's bundled test files.

Only files that ship inside the pydicom wheel are listed, so the list works offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom.data import get_testdata_file


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One example file."""

    name: str
    description: str
    path: Path


_CATALOGUE = (
    ("CT_small.dcm", "CT slice, 128x128, 16-bit"),
    ("MR_small.dcm", "MR slice, 64x64, 16-bit"),
    ("examples_rgb_color.dcm", "RGB ultrasound, 30 frames"),
    ("examples_ybr_color.dcm", "YBR_FULL_422 colour, JPEG baseline, 30 frames"),
    ("examples_palette.dcm", "palette colour"),
    ("examples_jpeg2k.dcm", "JPEG 2000 compressed"),
    ("examples_overlay.dcm", "MR with an overlay"),
    ("waveform_ecg.dcm", "ECG waveform (no image)"),
)


def bundled_samples() -> dict[str, Sample]:
    """The example files found in the installed pydicom, by name."""
    samples = {}
    for name, description in _CATALOGUE:
        found = get_testdata_file(name)
        if isinstance(found, str) and Path(found).is_file():
            samples[name] = Sample(name=name, description=description, path=Path(found))
    return samples
