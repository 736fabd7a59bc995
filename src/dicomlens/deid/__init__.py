"""De-identification: PS3.15 Annex E Basic Profile with options, and burned-in text redaction.

:func:`deidentify_file` is the entry point; :class:`ProfileOptions` says what to keep.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dicomlens.deid.options import RegionRule
    from dicomlens.deid.pipeline import DeidentifyReport, deidentify_dataset, deidentify_file
    from dicomlens.deid.pixels import RedactionPlan, TextLocator
    from dicomlens.deid.profile import ProfileOptions

# Resolved on first use (PEP 562): the settings import ``deid.options`` without pydicom.
_LAZY = {
    "DeidentifyReport": "dicomlens.deid.pipeline",
    "deidentify_dataset": "dicomlens.deid.pipeline",
    "deidentify_file": "dicomlens.deid.pipeline",
    "RegionRule": "dicomlens.deid.options",
    "RedactionPlan": "dicomlens.deid.pixels",
    "TextLocator": "dicomlens.deid.pixels",
    "ProfileOptions": "dicomlens.deid.profile",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DeidentifyReport",
    "ProfileOptions",
    "RedactionPlan",
    "RegionRule",
    "TextLocator",
    "deidentify_dataset",
    "deidentify_file",
]
