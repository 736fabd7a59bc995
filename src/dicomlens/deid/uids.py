"""Keyed, consistent UID remapping (PS3.15 E.1.1 action U).

A new UID is derived from the old one with HMAC-SHA256 under the configured secret, so the
same input always maps to the same output (every file of a study gets the same new Study
Instance UID, and references inside sequences follow), while without the secret the
mapping cannot be recomputed. The result is a ``2.25`` UID (PS3.5 B.2): the decimal form of
a 128-bit value with the RFC 9562 version-8 (custom) and variant bits set.
"""

from __future__ import annotations

import hashlib
import hmac

from pydicom._uid_dict import UID_dictionary

_VERSION_8 = 0x8 << 76
_VARIANT = 0b10 << 62
_VERSION_MASK = ~(0xF << 76)
_VARIANT_MASK = ~(0b11 << 62)


def remap_uid(uid: str, secret: bytes) -> str:
    """The new UID for ``uid`` under ``secret`` (well-known UIDs are returned unchanged)."""
    uid = uid.strip().rstrip("\x00")
    if not uid or is_well_known(uid):
        return uid
    digest = hmac.new(secret, b"uid:" + uid.encode("ascii", "replace"), hashlib.sha256).digest()
    value = int.from_bytes(digest[:16], "big")
    value = (value & _VERSION_MASK & _VARIANT_MASK) | _VERSION_8 | _VARIANT
    return f"2.25.{value}"


def is_well_known(uid: str) -> bool:
    """Whether ``uid`` is registered in PS3.6 (SOP classes, transfer syntaxes, ...)."""
    return uid in UID_dictionary
