"""DICOM JSON (PS3.18 F.2) put in a comparable form, and the files' own values in that form.

Two answers that mean the same thing must normalise to the same value: numbers as floats
(DS/IS may come as numbers or strings, F.2.3.1), trailing padding and empty PN components
dropped, a missing ``Value`` the same as an empty one, and bulk data (``BulkDataURI`` or
``InlineBinary``, F.2.7) reduced to the marker ``"<bulk>"`` (pixel bytes are compared
through /frames instead).
"""

from __future__ import annotations

from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

NUMERIC_VRS = frozenset({"DS", "IS", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV"})
BULK = "<bulk>"
PIXEL_DATA = "7FE00010"


def normalise_element(element: dict[str, Any]) -> Any:
    """One DICOM JSON element (``{"vr": ..., "Value": [...]}``) in comparable form."""
    vr = element.get("vr", "")
    if "BulkDataURI" in element or "InlineBinary" in element:
        return BULK
    values = element.get("Value") or []
    if vr == "SQ":
        return [normalise_dataset(item or {}) for item in values]
    if vr == "PN":
        return [_person_name(value) for value in values]
    if vr in NUMERIC_VRS:
        return [_number(value) for value in values]
    if vr == "AT":
        return [str(value).upper() for value in values]
    return [str(value).rstrip(" \x00") if value is not None else "" for value in values]


def normalise_dataset(data: dict[str, Any]) -> dict[str, Any]:
    """A DICOM JSON data set in comparable form, without group lengths."""
    return {
        tag.upper(): normalise_element(element)
        for tag, element in data.items()
        if not tag.upper().endswith("0000")
    }


def file_json(ds: Dataset) -> dict[str, Any]:
    """The data set of a file (without its File Meta Information) in comparable form."""
    data = ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=_bulk_uri)
    return normalise_dataset(data)


def _bulk_uri(_element: DataElement) -> str:
    return "bulk"


def _person_name(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        groups = {key: str(text) for key, text in value.items() if text}
    else:
        groups = {"Alphabetic": str(value)}
    return {key: text.rstrip("^ ") for key, text in groups.items() if text.rstrip("^ ")}


def _number(value: Any) -> float | str:
    try:
        return float(f"{float(value):.6g}")
    except (TypeError, ValueError):
        return str(value)


def value_at(data: dict[str, Any], tag: str) -> list[Any]:
    """The values of ``tag`` in raw DICOM JSON (empty list when absent or empty)."""
    element = data.get(tag) or {}
    return list(element.get("Value") or [])
