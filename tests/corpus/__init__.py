"""The test corpus: real files that ship with pydicom and pydicom-data, plus generated edge cases.

``real_files()`` lists the real corpus; ``generate(folder)`` writes the generated one
(deterministically: same bytes on every run) and returns what each file is expected to do.
"""

from corpus.generate import GENERATED, GeneratedCase, generate
from corpus.real import REAL_BROKEN, REAL_NO_IMAGE, real_files


def expected_outcomes() -> dict[str, str]:
    """File name -> ``"image"``, ``"no-image"`` or the error code, for the whole corpus."""
    outcomes = {path.name: "image" for path in real_files()}
    outcomes.update(REAL_BROKEN)
    outcomes.update(dict.fromkeys(REAL_NO_IMAGE, "no-image"))
    outcomes.update({case.name: case.expect for case in GENERATED})
    return outcomes


__all__ = ["GENERATED", "GeneratedCase", "expected_outcomes", "generate", "real_files"]
