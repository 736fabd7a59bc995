"""The DICOMweb root URL a request came through: answers' RetrieveURL and BulkDataURI start
there, so it must be the one the client can reach again. Large JSON answers are gzipped
for clients that accept gzip."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from dicomlens.handlers.dicomweb_http import json_reply, read_request, text_reply


def _event(headers: dict[str, str], raw_path: str = "/dicomweb/studies") -> dict[str, object]:
    return {
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"domainName": "abc.execute-api.eu-west-1.amazonaws.com"},
    }


@pytest.mark.parametrize(
    ("headers", "root"),
    [
        # dicomweb-client sends Host without the port: the port the request came in on
        ({"host": "127.0.0.1", "x-forwarded-port": "8080"}, "http://127.0.0.1:8080/dicomweb"),
        ({"host": "127.0.0.1:8080", "x-forwarded-port": "8080"}, "http://127.0.0.1:8080/dicomweb"),
        ({"host": "[::1]", "x-forwarded-port": "9000"}, "http://[::1]:9000/dicomweb"),
        (
            {"host": "pacs.example", "x-forwarded-proto": "https", "x-forwarded-port": "443"},
            "https://pacs.example/dicomweb",
        ),
        ({}, "http://abc.execute-api.eu-west-1.amazonaws.com/dicomweb"),
    ],
)
def test_the_root_url_is_the_one_the_client_reached(headers: dict[str, str], root: str) -> None:
    assert read_request(_event(headers)).root_url == root


def test_a_stage_prefix_stays_in_the_root() -> None:
    request = read_request(_event({"host": "h", "x-forwarded-proto": "https"}, "/prod/dicomweb"))
    assert request.root_url == "https://h/prod/dicomweb"
    assert request.api_root_url == "https://h/prod"
    assert request.segments == ()


def test_large_json_goes_out_gzipped_to_clients_that_accept_gzip() -> None:
    rows = [{"00080018": {"vr": "UI", "Value": [f"1.2.3.{n}"]}} for n in range(500)]
    # Given an answer larger than a few kilobytes, when the client accepts gzip
    reply = json_reply(200, rows, accept_encoding="gzip, deflate, br")
    # Then the body is the gzipped JSON, marked as such
    assert reply["headers"]["Content-Encoding"] == "gzip"
    assert reply["headers"]["Vary"] == "Accept-Encoding"
    assert reply["headers"]["Content-Type"] == "application/dicom+json"
    packed = base64.b64decode(reply["body"])
    assert json.loads(gzip.decompress(packed)) == rows
    assert len(packed) < len(json.dumps(rows)) / 5
    # And a client that does not accept gzip (or sends no Accept-Encoding) gets it plain
    for accept_encoding in ("identity", "", "gzip;q=0"):
        plain = json_reply(200, rows, accept_encoding=accept_encoding)
        assert "Content-Encoding" not in plain["headers"]
        assert json.loads(plain["body"]) == rows


def test_small_json_is_not_compressed() -> None:
    reply = text_reply(200, '[{"a":1}]', "application/dicom+json", accept_encoding="gzip")
    assert "Content-Encoding" not in reply["headers"]
    assert reply["body"] == '[{"a":1}]'
