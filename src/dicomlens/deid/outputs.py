"""Names of de-identified files: nothing derived from the input's name.

An input's name often is the patient's name or ID (``ZEBRA_QUINCE_ZQ-55321.dcm``). A
de-identified file is therefore written under a neutral pending name first and then named
after its new SOP Instance UID (``<uid>.dcm``), which the profile made from a keyed hash.
An index refers to the input by a keyed hash of its path (:func:`input_reference`), so that
someone who holds the outputs and guesses a name cannot confirm it without the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
from pathlib import Path

_UID = re.compile(r"[0-9.]{1,64}")


def input_reference(path: str, secret: bytes) -> str:
    """A keyed hash of an input path, as indexes show it (32 hex digits)."""
    digest = hmac.new(secret, b"input-path:" + path.encode("utf-8", "surrogateescape"), "sha256")
    return digest.hexdigest()[:32]


def pending_name(index: int) -> str:
    """The temporary name of the ``index``-th output until its SOP Instance UID is known."""
    return f".pending-{index:06d}.dcm"


def place_output(pending: Path, sop_instance_uid: str) -> Path:
    """Rename ``pending`` to ``<sop_instance_uid>.dcm`` beside it and return the new path.

    An existing file of that name is never replaced (two inputs can hold the same
    instance): the later one gets ``<uid>-2.dcm``, ``-3`` ... Linking is atomic, so workers
    in other processes cannot take the same name.
    """
    stem = (
        sop_instance_uid
        if _UID.fullmatch(sop_instance_uid)
        else hashlib.sha256(sop_instance_uid.encode()).hexdigest()[:32]
    )
    for attempt in range(1, 10_000):
        target = pending.parent / (f"{stem}.dcm" if attempt == 1 else f"{stem}-{attempt}.dcm")
        try:
            os.link(pending, target)
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: rename when the name is free
            if target.exists():
                continue
            pending.replace(target)
            return target
        with contextlib.suppress(FileNotFoundError):
            pending.unlink()
        return target
    raise FileExistsError(f"no free output name for {stem}")
