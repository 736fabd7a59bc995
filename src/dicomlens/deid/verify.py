"""Checks on a de-identified dataset: what must not remain, and where a value hides.

:func:`problems` and :func:`legible_text_frames` are the last gates before a de-identified
file is written; :func:`find_values` is the recursive scan the tests use for planted PHI.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

from pydicom import dcmread
from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from dicomlens.deid.pixels import decode_frames
from dicomlens.deid.profile import ProfileOptions, is_curve_or_overlay, parse_safe_private_tag
from dicomlens.deid.text_search import TextSearch
from dicomlens.imaging.limits import ImagingLimits


def walk(ds: Dataset, path: str = "") -> Iterator[tuple[str, Dataset, DataElement]]:
    """Every element of ``ds`` (file meta included), depth first, with a readable path."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and not path:
        for elem in meta:
            yield f"{elem.tag}", meta, elem
    for elem in ds:
        here = f"{path}{elem.tag}"
        yield here, ds, elem
        if elem.VR == "SQ" and elem.value is not None:
            for index, item in enumerate(elem.value):
                yield from walk(item, f"{here}[{index}].")


def find_values(ds: Dataset, needles: Iterable[str]) -> list[str]:
    """Paths of the elements whose value contains any of ``needles`` (case-insensitive;
    text, person names, numbers and bytes alike)."""
    wanted = [n.lower() for n in needles if n]
    hits = []
    for path, _, elem in walk(ds):
        if elem.VR == "SQ":
            continue
        value = elem.value
        if isinstance(value, bytes):
            text = value.decode("latin-1", "replace").lower()
        else:
            text = str(value).lower()
        for needle in wanted:
            if needle in text:
                hits.append(f"{path} contains {needle!r}")
    return hits


def problems(ds: Dataset, options: ProfileOptions) -> list[str]:
    """What the profile should have removed but is still in ``ds`` (empty when clean).

    Checked independently of the profile's own decisions: patient identity removed, no
    overlay or curve data, no private element outside the configured safe list, no person
    name but the dummy, and no public attribute that is unknown to the data dictionary or
    read with an unknown VR (UN): nothing is known about what such a value holds.
    """
    safe = {parse_safe_private_tag(entry) for entry in options.safe_private_tags}
    safe_creators = {(group, creator) for group, creator, _ in safe}
    found = []
    if str(ds.get("PatientIdentityRemoved", "")) != "YES":
        found.append("PatientIdentityRemoved is not YES")
    for path, parent, elem in walk(ds):
        tag = int(elem.tag)
        if is_curve_or_overlay(tag):
            found.append(f"overlay or curve data at {path}")
        elif elem.tag.is_private:
            group, element = elem.tag.group, elem.tag.element
            if element <= 0x00FF:
                if (group, str(elem.value)) not in safe_creators:
                    found.append(f"private creator at {path}")
                continue
            creator = parent.get((group, element >> 8))
            key = (group, str(creator.value) if creator else "", element & 0xFF)
            if key not in safe:
                found.append(f"private attribute at {path}")
        elif _unknown(tag, elem):
            found.append(f"unknown attribute at {path}")
        elif elem.VR == "PN" and elem.value not in (None, "") and str(elem.value) != "DEIDENTIFIED":
            found.append(f"person name at {path}")
    return found


def _unknown(tag: int, elem: DataElement) -> bool:
    """Unknown to the dictionary, or read as UN; an attribute the standard itself defines as UN
    (Selector UN Value) counts only when its value is not the profile's all-zero dummy."""
    if not dictionary_has_tag(tag):
        return True
    if elem.VR != "UN":
        return False
    if dictionary_VR(tag) != "UN":
        return True
    value = elem.value
    return isinstance(value, bytes) and any(value)


def legible_text_frames(encoded: bytes, search: TextSearch, *, limits: ImagingLimits) -> list[int]:
    """The frames (1-based) of the encoded output file ``encoded`` that still show legible
    text (:meth:`~dicomlens.deid.text_search.FoundText.is_legible`), searched as widely as
    the original was: every frame, rendering and orientation.

    The output is parsed and decoded again from its bytes, so what is verified is exactly
    what would be written. ``search`` may be the one that searched the original: it only
    remembers results for byte-identical renderings, and the detector is a function of
    those bytes alone, so a rendering left unchanged by redaction gives the same answer.
    """
    ds = dcmread(io.BytesIO(encoded))
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        return []
    frames = decode_frames(ds, limits=limits)
    return sorted({hit.frame + 1 for hit in search.search(frames, ds) if hit.is_legible()})
