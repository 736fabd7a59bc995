"""What the benchmarks share: distinct CT instances, and Orthanc as the peer to compare with.

Orthanc has no bind-address setting (it listens on every interface), so it only ever runs
inside its own network namespace: a benchmark re-runs itself under ``unshare -n`` with an
``--orthanc-inner`` argument, brings the namespace's loopback up, and prints its figures as
one JSON line. The namespace helpers live in ``tests/orthanc_namespace.py`` (the DICOMweb
checks use them too) and are re-exported here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import data_store  # pydicom-data
from pydicom import dcmread
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from orthanc_namespace import (
    ORTHANC_PORT,
    orthanc_in_this_namespace,
    run_in_own_network,
)

__all__ = [
    "CT_SLICE",
    "ORTHANC_PORT",
    "make_ct_instances",
    "orthanc_in_this_namespace",
    "run_in_own_network",
]

CT_SLICE = Path(data_store.__file__).parent / "data" / "693_UNCI.dcm"


def make_ct_instances(count: int, out_dir: Path) -> list[Path]:
    """``count`` distinct 512x512 CT instances: one slice with fresh SOP Instance UIDs."""
    ds = dcmread(CT_SLICE)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.InstanceNumber = index + 1
        path = out_dir / f"ct_{index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
