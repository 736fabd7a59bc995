"""The test corpus: real files that ship with pydicom and pydicom-data, plus generated edge cases.

``real_files()`` lists the real corpus; ``generate(folder)`` writes the generated one
(deterministically: same bytes on every run) and returns what each file is expected to do.
"""

from corpus.generate import GENERATED, GeneratedCase, generate
from corpus.real import real_files

__all__ = ["GENERATED", "GeneratedCase", "generate", "real_files"]
