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
