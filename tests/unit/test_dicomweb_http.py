"""The DICOMweb root URL a request came through: answers' RetrieveURL and BulkDataURI start
there, so it must be the one the client can reach again."""

from __future__ import annotations

import pytest

from dicomlens.handlers.dicomweb_http import read_request


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
