"""Given every corpus file that has an image, when it is de-identified (with a region rule
that forces the pixel data to be redacted and re-encoded), then dicom3tools' ``dciodvfy``
reports no error on the output that it did not already report on the input."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread

from corpus.real import REAL_BROKEN, REAL_NO_IMAGE, real_files
from dicomlens.config import Settings
from dicomlens.deid import ProfileOptions, RegionRule, deidentify_file
from dicomlens.domain.errors import DicomlensError

# A value quoted by dciodvfy changes with de-identification (a UID, a dummy); the
# complaint about the attribute is what must not be new.
_VALUE = re.compile(r"\[\d+\]\s*=\s*<[^>]*>")


def _errors(dciodvfy: str, path: Path) -> set[str]:
    run = subprocess.run(
        [dciodvfy, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    lines = (run.stdout + run.stderr).splitlines()
    return {_VALUE.sub("", line).strip() for line in lines if line.startswith("Error")}


def _baseline_errors(dciodvfy: str, source: Path, tmp_path: Path) -> set[str]:
    """The input's errors; for an input dciodvfy cannot read (deflated), those of the same
    dataset written uncompressed by pydicom."""
    errors = _errors(dciodvfy, source)
    if not any("read failed" in e for e in errors):
        return errors
    baseline = tmp_path / f"baseline-{source.name}"
    try:
        ds = dcmread(source)
        ds.decompress()  # inflated and written Explicit VR Little Endian
        ds.save_as(baseline, enforce_file_format=True)
    except (TypeError, ValueError):  # pydicom cannot rewrite it as it is either
        return errors
    return _errors(dciodvfy, baseline)


def _missing_in_source(error: str, source: Path) -> bool:
    """A "missing attribute" error about an attribute the input did not have either."""
    match = re.search(r"Missing attribute .*Element=<(\w+)>", error)
    return bool(match) and match.group(1) not in dcmread(source, force=True)


def _image_files() -> list[Path]:
    return [p for p in real_files() if p.name not in REAL_BROKEN and p.name not in REAL_NO_IMAGE]


def test_dciodvfy_finds_no_new_error_in_any_deidentified_corpus_file(
    require_tool: Callable[[str], str], tmp_path: Path
) -> None:
    dciodvfy = require_tool("dciodvfy")
    settings = Settings()
    options = ProfileOptions(
        secret=b"corpus",
        pixel_text="off",
        region_rules=(RegionRule(top_rows=8),),
    )
    checked, new_errors, failed = 0, {}, {}
    for source in _image_files():
        target = tmp_path / source.name
        try:
            deidentify_file(source, target, options, limits=settings.imaging_limits())
        except DicomlensError as exc:
            failed[source.name] = str(exc.code)
            continue
        added = _errors(dciodvfy, target) - _baseline_errors(dciodvfy, source, tmp_path)
        added = {e for e in added if not _missing_in_source(e, source)}
        if added:
            new_errors[source.name] = sorted(added)
        checked += 1
    print(f"{checked} files checked; failed with a code: {failed}")
    assert checked >= 100
    assert not new_errors, "\n".join(f"{k}: {v}" for k, v in new_errors.items())
    # Files that cannot be redacted fail with a clear code rather than pass PHI.
    assert set(failed.values()) <= {"REDACTION_IMPOSSIBLE", "INVALID_DICOM"}, failed
