"""The seed processImage function after the mandated libraries (see mandated_libraries.py)."""

import mandated_libraries  # noqa: F401 - first: the Tracer patches botocore before the client
from seed_process_image import handler

__all__ = ["handler"]
