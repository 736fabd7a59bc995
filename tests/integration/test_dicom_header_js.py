"""The page's DICOM header reader (``web/dicom-header.js``), run in node, against pydicom.

Given every DICOM file of pydicom's test data and the generated corpus, when the browser-side
reader reads a file's placement (study, series, their labels and numbers), then each value it
gives equals pydicom's for that file, it gives nothing else (no patient attribute), and a file
it cannot read is answered ``null``, never a wrong value.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.errors import InvalidDicomError

from corpus.real import real_files

READER = Path(__file__).parents[2] / "web" / "dicom-header.js"
KEYS = {
    "studyInstanceUid": "StudyInstanceUID",
    "seriesInstanceUid": "SeriesInstanceUID",
    "modality": "Modality",
    "studyDescription": "StudyDescription",
    "seriesDescription": "SeriesDescription",
    "seriesNumber": "SeriesNumber",
    "instanceNumber": "InstanceNumber",
}
RUNNER = """
import { readFile } from "node:fs/promises";
import { readPlacement } from "./dicom-header.mjs";
const out = {};
for (const path of JSON.parse(await readFile(process.argv[2], "utf8"))) {
  const blob = new Blob([await readFile(path)]);
  out[path] = await readPlacement(blob);
}
process.stdout.write(JSON.stringify(out));
"""


def _placements(node: str, files: list[Path], work: Path) -> dict[str, dict[str, object] | None]:
    shutil.copy(READER, work / "dicom-header.mjs")
    (work / "run.mjs").write_text(RUNNER, encoding="utf-8")
    (work / "files.json").write_text(json.dumps([str(f) for f in files]), encoding="utf-8")
    done = subprocess.run(
        [node, str(work / "run.mjs"), str(work / "files.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer: dict[str, dict[str, object] | None] = json.loads(done.stdout)
    return answer


def _expected(ds: pydicom.Dataset, key: str) -> object:
    value = ds.get(KEYS[key])
    if value is None or value == "":
        return None
    if key in ("seriesNumber", "instanceNumber"):
        return int(value)
    return str(value).strip()


def test_the_page_reads_each_files_placement_as_pydicom_does(
    require_tool: Callable[[str], str],
    generated_corpus: dict[str, Path],
    tmp_path: Path,
) -> None:
    node = require_tool("node")
    files = [*real_files(), *(p for p in generated_corpus.values() if p.suffix == ".dcm")]
    placements = _placements(node, files, tmp_path)
    read, unread, compared = 0, 0, 0
    for path in files:
        placement = placements[str(path)]
        if placement is None:
            unread += 1
            continue
        read += 1
        assert set(placement) <= set(KEYS), (path.name, sorted(placement))
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            continue
        for key, value in placement.items():
            try:
                expected = _expected(ds, key)
            except (ValueError, TypeError):
                continue  # pydicom cannot read it either: nothing to compare with
            compared += 1
            assert value == expected, (path.name, key, value, expected)
    # The reader is useful on ordinary files, not only safe: most files are placed
    assert read >= 0.7 * len(files), (read, unread)
    assert compared > 3 * len(files) // 2
    if unread == len(files):
        pytest.fail("the reader placed no file")
