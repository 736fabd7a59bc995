"""Accept negotiation as OHIF, dicomweb-client and browsers send it."""

from __future__ import annotations

import pytest

from dicomlens.dicomweb.frames import frame_offers
from dicomlens.dicomweb.negotiation import acceptable, choose, parse_accept
from dicomlens.dicomweb.rendered import rendered_offers
from dicomlens.domain.errors import DicomlensError, ErrorCode

JPEG_LS = "1.2.840.10008.1.2.4.80"
ELE = "1.2.840.10008.1.2.1"


def test_ohif_unquoted_any_syntax_keeps_the_stored_encoding() -> None:
    chosen = choose(
        "multipart/related; type=application/octet-stream; transfer-syntax=*",
        frame_offers(JPEG_LS),
    )
    assert chosen.transfer_syntax == JPEG_LS
    assert (
        chosen.offer.part_content_type() == f"application/octet-stream; transfer-syntax={JPEG_LS}"
    )


def test_octet_stream_without_syntax_means_explicit_little_endian() -> None:
    # PS3.18 8.7.3.3.1: the default transfer syntax of application/octet-stream
    for accept in ('multipart/related; type="application/octet-stream"', None, "*/*"):
        assert choose(accept, frame_offers(JPEG_LS)).transfer_syntax == ELE


def test_compressed_media_type_and_q_values() -> None:
    accept = (
        'multipart/related; type="application/octet-stream"; q=0.5, '
        'multipart/related; type="image/jls"; transfer-syntax=' + JPEG_LS
    )
    chosen = choose(accept, frame_offers(JPEG_LS))
    assert chosen.offer.part_type == "image/jls"
    assert chosen.offer.part_content_type() == f"image/jls; transfer-syntax={JPEG_LS}"


def test_unavailable_syntax_is_not_acceptable() -> None:
    with pytest.raises(DicomlensError) as caught:
        choose(
            "multipart/related; type=application/octet-stream;"
            " transfer-syntax=1.2.840.10008.1.2.4.50",
            frame_offers(ELE),
        )
    assert caught.value.code == ErrorCode.NOT_ACCEPTABLE


def test_rendered_defaults_wildcards_and_refusals() -> None:
    assert choose(None, rendered_offers()).offer.media_type == "image/jpeg"
    assert choose("image/*", rendered_offers()).offer.media_type == "image/jpeg"
    assert choose("image/png, image/jpeg;q=0.8", rendered_offers()).offer.media_type == "image/png"
    # joined header fields; q=0 refuses jpeg even under a wildcard
    assert choose("text/html, image/*, image/jpeg;q=0", rendered_offers()).offer.media_type == (
        "image/png"
    )
    for accept in ("application/dicom", "image/jpeg;q=0", "garbage"):
        with pytest.raises(DicomlensError) as caught:
            choose(accept, rendered_offers())
        assert caught.value.code == ErrorCode.NOT_ACCEPTABLE


def test_accept_query_parameter_replaces_the_header() -> None:
    assert acceptable("image/png", "image/jpeg") == "image/png"
    assert acceptable(None, "image/jpeg") == "image/jpeg"


def test_parse_keeps_quoted_commas_and_drops_bad_elements() -> None:
    ranges = parse_accept('a/b; x="1,2", c/d; q=2, */*;q=0.1')
    assert [r.media.essence for r in ranges] == ["a/b", "*/*"]
    assert ranges[0].media.params["x"] == "1,2"
