"""Content negotiation for WADO-RS (PS3.18 8.7.5-8.7.8, RFC 9110 12.5.1).

A resource lists what it can produce as :class:`MediaOffer` values, in its order of
preference; :func:`choose` picks the one the client's Accept value ranks highest.

- Accept absent or empty means ``*/*`` (RFC 9110 12.5.1): the resource's first offer
  whose ``default`` is set, i.e. its default media type (PS3.18 Table 10.4.4-1 / 8.7.4-1).
- A range without ``transfer-syntax`` asks for the media type's default transfer syntax
  (PS3.18 8.7.3.5.2): it matches the offers marked ``default``. ``transfer-syntax=*`` lets
  the origin server choose: the first matching offer (the resources put the stored
  encoding first, so nothing is transcoded).
- ``multipart/related`` ranges match on their ``type`` parameter (``image/*`` allowed; a
  range without one accepts any part type).
- For each offer the most specific matching range gives its q (RFC 9110 12.4.2); the
  highest q wins, ties go to the resource's order; q=0 refuses. Nothing acceptable is
  NOT_ACCEPTABLE (406, PS3.18 8.7.8.1).
- The ``accept`` query parameter (PS3.18 8.3.3.1) replaces the Accept header when
  present: :func:`acceptable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dicomlens.dicomweb.media_types import MediaType, parse_media_type, split_list
from dicomlens.domain.errors import DicomlensError, ErrorCode

MULTIPART_RELATED = "multipart/related"
ANY_SYNTAX = "*"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


@dataclass(frozen=True, kw_only=True)
class MediaRange:
    """One element of an Accept value: a media range, its parameters and its q."""

    media: MediaType
    q: float

    @property
    def specificity(self) -> tuple[int, int]:
        """How narrowly it matches: wildcards (0-2) then the number of parameters."""
        kind, subtype = self.media.type, self.media.subtype
        level = 0 if kind == "*" else 1 if subtype == "*" else 2
        return level, len(self.media.params)


@dataclass(frozen=True, kw_only=True)
class MediaOffer:
    """A representation a resource can produce.

    ``media_type`` is the response's ``type/subtype``; for ``multipart/related``,
    ``part_type`` is each part's media type. ``transfer_syntax`` is the UID the
    representation is encoded in (None when the media type has none, e.g. rendered
    images); ``default`` marks what a request naming no transfer syntax gets, and what
    an absent Accept gets.
    """

    media_type: str
    part_type: str | None = None
    transfer_syntax: str | None = None
    default: bool = True

    def content_type(self, boundary: str | None = None) -> str:
        """The Content-Type value of the response (``boundary`` for a multipart one)."""
        value = self.media_type
        if self.part_type is not None:
            value += f'; type="{self.part_type}"'
        if self.transfer_syntax is not None and self.part_type is None:
            value += f"; transfer-syntax={self.transfer_syntax}"
        if boundary is not None:
            value += f"; boundary={boundary}"
        return value

    def part_content_type(self) -> str:
        """The Content-Type of each part of a multipart answer (its transfer syntax too)."""
        value = self.part_type or self.media_type
        if self.transfer_syntax is not None:
            value += f"; transfer-syntax={self.transfer_syntax}"
        return value


@dataclass(frozen=True, kw_only=True)
class Chosen:
    """The negotiated representation and the q the client gave it."""

    offer: MediaOffer
    q: float

    @property
    def transfer_syntax(self) -> str | None:
        """The transfer syntax to produce (None for media types without one)."""
        return self.offer.transfer_syntax


def acceptable(query_accept: str | None, header_accept: str | None) -> str | None:
    """The Accept value to negotiate with: the ``accept`` query parameter when given
    (PS3.18 8.3.3.1, already percent-decoded; repeated values joined by commas), else the
    Accept header (several fields joined by commas)."""
    if query_accept is not None and query_accept.strip():
        return query_accept
    return header_accept


def parse_accept(accept: str | None) -> list[MediaRange]:
    """The media ranges of an Accept value; absent or empty is ``*/*``.

    Elements that cannot be read (no ``/``, a bad q) are skipped, as RFC 9110 lets a
    server ignore what it does not understand; parameters after ``q`` (accept-ext) are
    dropped. Raises NOT_ACCEPTABLE when the value holds elements and none can be read.
    """
    elements = split_list(accept or "")
    if not elements:
        return [MediaRange(media=MediaType(type="*", subtype="*"), q=1.0)]
    ranges = [found for element in elements if (found := _range(element)) is not None]
    if not ranges:
        raise DicomlensError(ErrorCode.NOT_ACCEPTABLE, "the Accept value holds no media range")
    return ranges


def _range(element: str) -> MediaRange | None:
    try:
        media = parse_media_type(element, code=ErrorCode.NOT_ACCEPTABLE)
    except DicomlensError:
        return None
    if media.type == "*" and media.subtype != "*":
        return None
    params: dict[str, str] = {}
    q = 1.0
    for name, value in media.params.items():
        if name == "q":
            try:
                q = float(value)
            except ValueError:
                return None
            if not 0.0 <= q <= 1.0:
                return None
            break  # what follows q is accept-ext (RFC 9110 12.4.2)
        params[name] = value
    return MediaRange(media=MediaType(type=media.type, subtype=media.subtype, params=params), q=q)


def choose(accept: str | None, offers: Sequence[MediaOffer]) -> Chosen:
    """The offer the client's ``accept`` ranks highest (see the module for the rules).

    Raises NOT_ACCEPTABLE when no offer is acceptable.
    """
    ranges = parse_accept(accept)
    best: Chosen | None = None
    for offer in offers:
        q = _quality(offer, ranges)
        if q > 0 and (best is None or q > best.q):
            best = Chosen(offer=offer, q=q)
    if best is None:
        wanted = ", ".join(_described(r) for r in ranges[:5])
        offered = ", ".join(offer.content_type() for offer in offers[:8])
        raise DicomlensError(
            ErrorCode.NOT_ACCEPTABLE,
            f"none of the accepted media types ({wanted}) can be produced; offered: {offered}",
        )
    return best


def _quality(offer: MediaOffer, ranges: Sequence[MediaRange]) -> float:
    """The q of the most specific range matching ``offer`` (0 when none does)."""
    matching = [r for r in ranges if _matches(r, offer)]
    if not matching:
        return 0.0
    top = max(r.specificity for r in matching)
    return max(r.q for r in matching if r.specificity == top)


def _matches(accepted: MediaRange, offer: MediaOffer) -> bool:
    media = accepted.media
    if not _type_matches(media.type, media.subtype, offer.media_type):
        return False
    wanted_part = media.params.get("type")
    if offer.part_type is not None and wanted_part is not None:
        kind, _, subtype = wanted_part.strip().lower().partition("/")
        if not subtype or not _type_matches(kind, subtype, offer.part_type):
            return False
    elif offer.part_type is None and wanted_part is not None:
        return False
    return _syntax_matches(media.params.get("transfer-syntax"), offer)


def _type_matches(kind: str, subtype: str, offered: str) -> bool:
    offered_kind, _, offered_subtype = offered.lower().partition("/")
    if kind == "*":
        return True
    return kind == offered_kind and subtype in ("*", offered_subtype)


def _syntax_matches(wanted: str | None, offer: MediaOffer) -> bool:
    if wanted is None:
        return offer.default
    if wanted == ANY_SYNTAX:
        return True
    return offer.transfer_syntax is not None and wanted.strip() == offer.transfer_syntax


def _described(accepted: MediaRange) -> str:
    params = "".join(f"; {k}={v}" for k, v in accepted.media.params.items())
    return accepted.media.essence + params
