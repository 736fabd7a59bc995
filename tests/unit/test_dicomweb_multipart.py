"""multipart/related bodies: what we send parses back, and what clients send parses."""

from __future__ import annotations

import email.parser
import email.policy
import os

import pytest

from dicomlens.dicomweb.multipart import Part, decode_multipart, encode_multipart, stream_multipart
from dicomlens.domain.errors import DicomlensError, ErrorCode


def test_encoded_body_is_read_back_by_the_standard_library() -> None:
    # Given two binary parts, one holding CRLFs and dashes
    parts = [
        Part(content_type="application/dicom", data=b"\r\n--x\r\n" + os.urandom(1000)),
        Part(
            content_type="application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1",
            data=b"",
            headers=(("Content-Location", "/frames/2"),),
        ),
    ]
    # When encoded
    body, content_type = encode_multipart(parts, related_type="application/dicom")
    # Then email's own MIME parser finds the same parts (an independent reader)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    found = list(message.iter_parts())
    assert [p.get_payload(decode=True) for p in found] == [part.data for part in parts]
    assert found[1]["Content-Location"] == "/frames/2"
    assert 'type="application/dicom"' in content_type
    # And our decoder too
    assert decode_multipart(body, content_type) == parts


def test_stream_gives_the_same_parts() -> None:
    parts = [Part(content_type="application/dicom", data=bytes([k]) * 10) for k in range(3)]
    chunks, content_type = stream_multipart(iter(parts), related_type="application/dicom")
    assert decode_multipart(b"".join(chunks), content_type) == parts


def test_client_body_with_unquoted_type_preamble_and_epilogue() -> None:
    body = (
        b"preamble\r\n--b1\r\nContent-Type: application/dicom\r\n\r\nAAA\r\n"
        b"--b1  \r\n\r\nBBB\r\n--b1--\r\nepilogue"
    )
    parts = decode_multipart(body, "multipart/related; type=application/dicom; boundary=b1")
    assert [p.data for p in parts] == [b"AAA", b"BBB"]
    # a part without Content-Type takes the type parameter (RFC 2387)
    assert parts[1].content_type == "application/dicom"


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        ("application/dicom", b"--b\r\n\r\nx\r\n--b--", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        ("not a type", b"", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        ("multipart/related; type=application/dicom", b"--b\r\n\r\nx", ErrorCode.VALIDATION_ERROR),
        ("multipart/related; boundary=b", b"no delimiter at all", ErrorCode.VALIDATION_ERROR),
        ("multipart/related; boundary=b", b"--b\r\n\r\nx never closed", ErrorCode.VALIDATION_ERROR),
        ("multipart/related; boundary=b", b"--b\r\nContent-Type: a/b", ErrorCode.VALIDATION_ERROR),
        ("multipart/related; boundary=b", b"--bjunk\r\n\r\nx\r\n--b--", ErrorCode.VALIDATION_ERROR),
    ],
)
def test_malformed_bodies_are_errors_with_codes(
    content_type: str, body: bytes, code: ErrorCode
) -> None:
    with pytest.raises(DicomlensError) as caught:
        decode_multipart(body, content_type)
    assert caught.value.code == code


def test_too_many_parts_are_refused() -> None:
    body = b"".join(b"--b\r\n\r\nx\r\n" for _ in range(5)) + b"--b--"
    with pytest.raises(DicomlensError) as caught:
        decode_multipart(body, "multipart/related; boundary=b", max_parts=4)
    assert caught.value.code == ErrorCode.VALIDATION_ERROR
