"""The seed upload-URL function after the mandated libraries (see mandated_libraries.py)."""

import mandated_libraries  # noqa: F401 - first: the Tracer patches botocore before the client
from seed_upload_url import handler

__all__ = ["handler"]
