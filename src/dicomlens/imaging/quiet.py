"""Silence the warnings pydicom and Pillow give about non-conformant files."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_warnings() -> Iterator[None]:
    """pydicom and Pillow warn about non-conformant files; those warnings are not errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
