"""De-identification: PS3.15 Annex E Basic Profile with options, and burned-in text redaction.

:func:`deidentify_file` is the entry point; :class:`ProfileOptions` says what to keep.
"""

from dicomlens.deid.deidentify import DeidentifyReport, deidentify_dataset, deidentify_file
from dicomlens.deid.pixels import RedactionPlan, TextLocator
from dicomlens.deid.profile import ProfileOptions, RegionRule

__all__ = [
    "DeidentifyReport",
    "ProfileOptions",
    "RedactionPlan",
    "RegionRule",
    "TextLocator",
    "deidentify_dataset",
    "deidentify_file",
]
