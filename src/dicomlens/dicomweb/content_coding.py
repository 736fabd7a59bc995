"""Content codings (RFC 9110 8.4, 12.5.3): whether a client accepts gzip, and gzip for
answers worth compressing.

DICOM JSON compresses very well (the metadata of a 300-slice CT series, ~620 kB, becomes
~10 kB at gzip level 1, in a few milliseconds), so large JSON answers go out gzipped to
clients that accept it; pixel data does not (it compresses little, and compressing every
frame would cost more than it saves on fast links).
"""

from __future__ import annotations

import gzip

GZIP = "gzip"
WORTH_COMPRESSING = 4096  # bytes: below this, headers outweigh the saving
FAST_LEVEL = 1  # most of the saving for JSON at a fraction of level 6's time


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value admits gzip (RFC 9110 12.5.3): ``gzip`` named
    with a quality above zero, or, when it is not named, ``*`` with one. No header: no
    (identity is always acceptable, gzip only when asked for)."""
    qualities: dict[str, float] = {}
    for item in (accept_encoding or "").lower().split(","):
        coding, _, parameters = item.partition(";")
        quality = 1.0
        name, _, value = parameters.partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        qualities[coding.strip()] = quality
    return qualities.get(GZIP, qualities.get("*", 0.0)) > 0


def gzip_if_worth_it(body: bytes, accept_encoding: str | None) -> bytes | None:
    """``body`` gzipped (fast level, no timestamp) when the client accepts gzip and the
    body is large enough to gain from it; None to send it as it is."""
    if len(body) < WORTH_COMPRESSING or not accepts_gzip(accept_encoding):
        return None
    return gzip.compress(body, compresslevel=FAST_LEVEL, mtime=0)
