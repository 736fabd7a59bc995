"""Media type values as DICOMweb clients write them (RFC 9110 8.3.1, PS3.18 8.7.3.5).

``type/subtype`` then ``; name=value`` parameters, each value a token or a quoted string.
Real clients break the grammar in one way this parser accepts: an unquoted ``type``
parameter holding a ``/`` (``type=application/octet-stream``, which OHIF sends with
``omitQuotationForMultipartRequest``). The standard library's ``email`` header parser
reads that value as ``application`` and drops the rest, so it cannot be used for these
values; it still parses the header blocks of multipart parts (see :mod:`.multipart`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from dicomlens.domain.errors import DicomlensError, ErrorCode


@dataclass(frozen=True, kw_only=True)
class MediaType:
    """A parsed media type: ``type`` and ``subtype`` in lower case, parameter names in
    lower case and their values unquoted (case kept: a boundary is case-sensitive)."""

    type: str
    subtype: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def essence(self) -> str:
        """``type/subtype``."""
        return f"{self.type}/{self.subtype}"


def parse_media_type(
    value: str, *, code: ErrorCode = ErrorCode.UNSUPPORTED_MEDIA_TYPE
) -> MediaType:
    """``value`` parsed; raises ``code`` when it is not ``type/subtype`` with parameters.

    A parameter without ``=`` or with an empty name is an error; a repeated parameter
    keeps its first value.
    """
    pieces = list(_split(value, ";"))
    essence = pieces[0].strip().lower() if pieces else ""
    kind, slash, subtype = essence.partition("/")
    if not slash or not _is_token(kind) or not _is_token(subtype):
        raise DicomlensError(code, f"{_shown(value)} is not a media type")
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        if not piece.strip():
            continue  # "type/subtype;" and ";;" are harmless
        name, equals, raw = piece.partition("=")
        name = name.strip().lower()
        if not equals or not _is_token(name):
            raise DicomlensError(code, f"{_shown(value)} has a malformed parameter")
        params.setdefault(name, _unquote(raw.strip()))
    return MediaType(type=kind, subtype=subtype, params=params)


def split_list(value: str) -> list[str]:
    """The elements of a comma-separated header value (commas in quotes kept), empty ones
    dropped: several Accept header fields joined with commas read as one list."""
    return [piece.strip() for piece in _split(value, ",") if piece.strip()]


def _split(value: str, separator: str) -> Iterator[str]:
    """``value`` split at ``separator`` outside double quotes (backslash escapes inside)."""
    start, quoted, escaped = 0, False, False
    for k, char in enumerate(value):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            yield value[start:k]
            start = k + 1
    yield value[start:]


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        out, escaped = [], False
        for char in raw[1:-1]:
            if char == "\\" and not escaped:
                escaped = True
                continue
            out.append(char)
            escaped = False
        return "".join(out)
    return raw


_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _is_token(text: str) -> bool:
    return bool(text) and all(char in _TOKEN for char in text)


def _shown(value: str) -> str:
    """``value`` for an error message: short, printable."""
    text = "".join(char if char.isprintable() else "?" for char in value[:80])
    return repr(text + ("..." if len(value) > 80 else ""))
