"""The metadata summary and PHI fields show what `dcmdump` prints for the same file.

For every corpus DICOM file with an image, each summary value equals the value DCMTK's
`dcmdump` prints (UIDs numeric, text converted to UTF-8). Text is compared without its
leading and trailing spaces, which PS3.5 6.2 makes insignificant padding.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from corpus import expected_outcomes
from dicomlens.imaging.decode import read_image
from dicomlens.imaging.limits import ImagingLimits
from dicomlens.imaging.metadata import phi_fields, summarize

# dcmdump cannot parse these; the same values are checked elsewhere:
NOT_FOR_DCMDUMP = {
    # A dataset in implicit VR under an explicit-VR transfer syntax (DCMTK stops at the
    # first element). The summary's values are those pydicom reads; nothing to compare.
    "SC_rgb_jpeg.dcm",
    # "DICM" without the preamble; its twin gen_no_preamble.dcm has the same dataset.
    "gen_dicm_no_preamble.dcm",
    # Pixel data without its sequence delimiter: dcmdump stops with an error.
    "emri_small_jpeg_2k_lossless_too_short.dcm",
}

_LINE = re.compile(
    r"^(?P<indent> *)\((?P<group>[0-9a-f]{4}),(?P<element>[0-9a-f]{4})\) (?P<vr>\S\S) "
    r"(?P<value>.*?)\s+#\s*(?:\d+|u/l), *\d+ \S+$"
)


@dataclass
class Node:
    """One element of a dcmdump tree: its value text and its nested elements."""

    value: str | None
    children: list[tuple[str, Node]] = field(default_factory=list)

    def find(self, tag: str) -> Node | None:
        return next((node for key, node in self.children if key == tag), None)


def _value(vr: str, text: str) -> str | None:
    if text.startswith("(no value available)"):
        return None
    if text.startswith("[") and text.endswith("]"):
        return text[1:-1]
    if vr in ("SQ", "na") or text.startswith("("):
        return None
    return text


def parse_dump(output: str) -> Node:
    """The dcmdump text as a tree; meta header and dataset share the root."""
    root = Node(value=None)
    stack: list[tuple[int, Node]] = [(-1, root)]
    for line in output.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        depth = len(match["indent"])
        while stack[-1][0] >= depth:
            stack.pop()
        node = Node(value=_value(match["vr"], match["value"]))
        stack[-1][1].children.append((f"{match['group']},{match['element']}".upper(), node))
        stack.append((depth, node))
    return root


def _text(root: Node, tag: str) -> str | None:
    node = root.find(tag)
    if node is None or node.value is None:
        return None
    return node.value.strip(" ") or None


def _int(root: Node, tag: str) -> int | None:
    text = _text(root, tag)
    return int(text) if text is not None else None


_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def _uid(root: Node, tag: str) -> str | None:
    """A UID as dcmdump prints it, or None when it breaks its VR (PS3.5 9.1: digits and
    dots, no leading zeros, at most 64 characters): the summary leaves such a value out."""
    text = _text(root, tag)
    if text is None or len(text) > 64 or not _UID.fullmatch(text):
        return None
    return text


def _floats(text: str | None) -> tuple[float, ...] | None:
    return tuple(float(v) for v in text.split("\\")) if text is not None else None


def _shared_pixel_spacing(root: Node) -> str | None:
    """Pixel Spacing inside Shared Functional Groups > Pixel Measures (enhanced objects)."""
    shared = root.find("5200,9229")
    for _, item in shared.children if shared else []:
        measures = item.find("0028,9110")
        for _, measure_item in measures.children if measures else []:
            value = _text(measure_item, "0028,0030")
            if value is not None:
                return value
    return None


def expected_summary(root: Node) -> dict[str, object]:
    """What the summary must say, read from the dcmdump tree."""
    spacing = (
        _text(root, "0028,0030")
        or _shared_pixel_spacing(root)
        or _text(root, "0018,1164")  # Imager Pixel Spacing
    )
    thickness = _text(root, "0018,0050")
    return {
        "modality": _text(root, "0008,0060"),
        "sop_class_uid": _text(root, "0008,0016") or _text(root, "0002,0002"),
        "body_part": _text(root, "0018,0015"),
        "study_description": _text(root, "0008,1030"),
        "series_description": _text(root, "0008,103E"),
        "laterality": _text(root, "0020,0060") or _text(root, "0020,0062"),
        "view_position": _text(root, "0018,5101"),
        "rows": _int(root, "0028,0010"),
        "columns": _int(root, "0028,0011"),
        "frames": _int(root, "0028,0008") or 1,
        "samples_per_pixel": _int(root, "0028,0002"),
        "bits_allocated": _int(root, "0028,0100"),
        "bits_stored": _int(root, "0028,0101"),
        "pixel_representation": _int(root, "0028,0103"),
        "photometric_interpretation": _text(root, "0028,0004"),
        "transfer_syntax_uid": _text(root, "0002,0010"),
        "pixel_spacing": _floats(spacing),
        "slice_thickness": float(thickness) if thickness is not None else None,
        "manufacturer": _text(root, "0008,0070"),
        "model": _text(root, "0008,1090"),
        "burned_in_annotation": _text(root, "0028,0301"),
        "study_instance_uid": _uid(root, "0020,000D"),
        "series_instance_uid": _uid(root, "0020,000E"),
        "sop_instance_uid": _uid(root, "0008,0018")
        if root.find("0008,0018") is not None
        else _uid(root, "0002,0003"),
        "series_number": _int(root, "0020,0011"),
        "instance_number": _int(root, "0020,0013"),
    }


def expected_phi(root: Node) -> dict[str, object]:
    """The patient-identifying values, read from the dcmdump tree."""
    return {
        "patient_name": _text(root, "0010,0010"),
        "patient_id": _text(root, "0010,0020"),
        "patient_birth_date": _text(root, "0010,0030"),
        "patient_sex": _text(root, "0010,0040"),
        "accession_number": _text(root, "0008,0050"),
        "institution_name": _text(root, "0008,0080"),
        "referring_physician_name": _text(root, "0008,0090"),
        "study_date": _text(root, "0008,0020"),
    }


def _dicom_cases() -> list[str]:
    images = {name for name, outcome in expected_outcomes().items() if outcome == "image"}
    return sorted(name for name in images - NOT_FOR_DCMDUMP if name.endswith(".dcm"))


def _dcmdump(executable: str, path: Path) -> str:
    """dcmdump's text: numeric UIDs, full values, UN elements given their dictionary VR,
    and text in UTF-8 unless the file's Specific Character Set is one DCMTK cannot convert
    (then the bytes as they are)."""
    for charset in (["+U8"], []):
        dump = subprocess.run(
            [executable, "-q", "-Un", "+L", "-M", "+uc", *charset, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            errors="replace",
        )
        if dump.returncode == 0:
            return dump.stdout
    raise AssertionError(f"dcmdump failed: {dump.stderr[-300:]}")


@pytest.mark.parametrize("name", _dicom_cases())
def test_summary_equals_what_dcmdump_prints(
    name: str, corpus_paths: dict[str, Path], require_tool: Callable[[str], str]
) -> None:
    # Given a corpus file with an image
    path = corpus_paths[name]
    image = read_image(path, limits=ImagingLimits())
    # When dcmdump prints it
    tree = parse_dump(_dcmdump(require_tool("dcmdump"), path))
    expected = expected_summary(tree) | expected_phi(tree)
    # Then every summary and PHI value is the value dcmdump shows
    ours = summarize(image).model_dump() | phi_fields(image.dataset).model_dump()
    differences = {key: (ours[key], value) for key, value in expected.items() if ours[key] != value}
    assert not differences, f"{name}: ours vs dcmdump {differences}"
