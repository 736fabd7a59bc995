"""The two DICOMweb servers the checks compare, both inside one ``unshare -n`` namespace.

``orthanc_dicomweb()`` runs Orthanc with its DICOMweb plugin (Debian ``orthanc-dicomweb``;
not ``orthanc-gdcm``, see below) and yields its DICOMweb root; ``our_dicomweb()`` runs
``dicomlens serve`` on a free loopback port and yields ``{base}/dicomweb``.
``run_unshared`` (from ``orthanc_namespace``) re-executes a script in a new namespace.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS, TESTS / "integration"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import local_server  # noqa: E402

from orthanc_namespace import (  # noqa: E402
    DICOMWEB_PLUGIN,
    last_json_line,
    missing_namespace_tools,
    orthanc_in_this_namespace,
    run_unshared,
)

OUR_ROOT = "/dicomweb"
DICOMWEB_SETTINGS = {"DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False}}
# Orthanc's GDCM plugin 1.5 is not loaded: with it, Orthanc died (SIGSEGV) in 4 of 6 runs of
# the suite while transcoding JPEG 2000, and its implicit->explicit transcode turned a DS
# value 1.0000000e-6 into 1.0. Without it Orthanc cannot decode JPEG 2000 (DCMTK has no
# JPEG 2000 codec): those answers are listed in dicomweb_deviations.

__all__ = [
    "OUR_ROOT",
    "last_json_line",
    "missing_namespace_tools",
    "orthanc_dicomweb",
    "our_dicomweb",
    "run_unshared",
]


@contextmanager
def orthanc_dicomweb() -> Iterator[str]:
    """Orthanc + DICOMweb plugin in this (already unshared) namespace; yields its
    DICOMweb root, ``http://127.0.0.1:8042/dicom-web``."""
    with orthanc_in_this_namespace(plugins=(DICOMWEB_PLUGIN,), settings=DICOMWEB_SETTINGS) as base:
        yield f"{base}/dicom-web"


@contextmanager
def our_dicomweb(data_dir: Path) -> Iterator[str]:
    """``dicomlens serve`` on a free loopback port with ``data_dir``; yields its DICOMweb
    root (``{base}/dicomweb``)."""
    with local_server.running(data_dir) as server:
        yield f"{server.url.rstrip('/')}{OUR_ROOT}"
