"""Fuzzing the served API and upload endpoint: no request yields a 5xx.

Property-based requests from the served OpenAPI document (valid and invalid ones, for every
operation), then malformed multipart forms and malformed HTTP framing sent to ``/_upload``.
Derandomized with bounded example counts, so a run is reproducible and takes well under a
minute; the server's output must hold no traceback either.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_server import Server, create, running
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

EXAMPLES_PER_OPERATION = 50
INVALID_EXAMPLES_PER_OPERATION = 30
MULTIPART_EXAMPLES = 100
FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("fuzz") / "data") as served:
        yield served
    output = "".join(served.output)
    assert "Traceback" not in output
    assert "Exception in ASGI application" not in output


def test_no_generated_request_is_a_server_error(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/uploads", "/jobs/{jobId}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server.url, checks=[not_a_server_error])

        no_server_error()


def test_no_invalid_request_to_any_operation_is_a_server_error(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == {
        ("POST", "/uploads"),
        ("GET", "/jobs/{jobId}"),
        ("POST", "/jobs/{jobId}/deidentify"),
        ("POST", "/jobs/{jobId}/report"),
    }
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @settings(FUZZ_SETTINGS, max_examples=INVALID_EXAMPLES_PER_OPERATION)
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(base_url=server.url, timeout=30)
            assert response.status_code < 500, (case.as_curl_command(), response.text)

        no_server_error()


API_BODY_TYPES = [
    "application/json",
    "text/plain",
    "application/octet-stream",
    "APPLICATION/JSON",
    "application/json; charset=latin-1",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
]
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
api_bodies = st.one_of(
    st.builds(lambda doc: json.dumps(doc).encode(), json_like),
    st.builds(
        lambda size: b'{"fileName": "a.dcm", "size": ' + size + b"}",
        st.sampled_from([b"true", b"1.0", b'"1"', b"9" * 5000, b"-0", b"1e999", b"NaN"]),
    ),
    st.builds(lambda depth: b"[" * depth + b"]" * depth, st.integers(1000, 200_000)),
    st.builds(lambda depth: b'{"a":' * depth, st.integers(1000, 100_000)),
    st.binary(max_size=500),
)


def test_no_raw_body_to_the_api_is_a_server_error(server: Server) -> None:
    session = requests.Session()

    @given(
        path=st.sampled_from(["/uploads", "/jobs/x/deidentify"]),
        content_type=st.sampled_from(API_BODY_TYPES),
        body=api_bodies,
    )
    @settings(FUZZ_SETTINGS, max_examples=MULTIPART_EXAMPLES)
    def no_server_error(path: str, content_type: str, body: bytes) -> None:
        response = session.post(
            server.url + path, data=body, headers={"Content-Type": content_type}, timeout=30
        )
        assert response.status_code < 500, (content_type, body[:100], response.text)
        assert response.json().get("error", {}).get("code") or response.status_code < 300

    no_server_error()


# Malformed multipart forms to /_upload.

BOUNDARIES = [b"b0undary", b"x", b"-" * 70, b"\xe9\xe8", b"", b"a b", b'"quoted"']
CONTENT_TYPES = [
    b"multipart/form-data; boundary=%s",
    b'multipart/form-data; boundary="%s"',
    b"multipart/form-data",
    b"multipart/mixed; boundary=%s",
    b"text/plain",
    b"application/octet-stream",
    b"application/json",
    b"MULTIPART/FORM-DATA; BOUNDARY=%s",
]
NAMES = [b"key", b"policy", b"Content-Type", b"x-dicomlens-signature", b"file", b"", b"\xff\xfe"]
odd_bytes = st.binary(max_size=300) | st.sampled_from(
    [b"\x00" * 50, b"\r\n" * 40, b"--", b"\xff" * 2000, b"\r\n--b0undary\r\n", b"%00"]
)


@st.composite
def parts(draw: st.DrawFn, fields: dict[str, str]) -> list[bytes]:
    """Form parts: the grant's real fields (some changed, repeated or missing), odd ones,
    a file part or none, and headers that are huge, negative or not ASCII."""
    chosen: list[bytes] = []
    for name, value in fields.items():
        if draw(st.booleans()):
            raw = value.encode() if draw(st.booleans()) else draw(odd_bytes)
            chosen.extend([part(name.encode(), raw)] * draw(st.integers(1, 2)))
    for _ in range(draw(st.integers(0, 4))):
        headers = draw(
            st.lists(
                st.sampled_from(
                    [
                        b"Content-Length: -5",
                        b"Content-Length: 99999999999999999999999999",
                        b"Content-Type: \xff\xfe",
                        b"X-Long: " + b"h" * 5000,
                        b"Content-Disposition: form-data",
                        b"Content-Disposition: form-data; name*=utf-8''%C3%A9",
                        b"\xff: \xfe",
                        b"no colon",
                    ]
                ),
                max_size=3,
            )
        )
        chosen.append(part(draw(st.sampled_from(NAMES)), draw(odd_bytes), headers))
    if draw(st.booleans()):
        chosen.append(part(b"file", draw(st.binary(max_size=500)), [b"Content-Type: x/y"]))
    return draw(st.permutations(chosen)) if draw(st.booleans()) else chosen


def part(name: bytes, value: bytes, headers: list[bytes] | None = None) -> bytes:
    head = b'Content-Disposition: form-data; name="' + name + b'"'
    if name == b"file":
        head += b'; filename="x.dcm"'
    return b"\r\n".join([head, *(headers or [])]) + b"\r\n\r\n" + value


@st.composite
def forms(draw: st.DrawFn, fields: dict[str, str]) -> tuple[bytes, bytes, bool]:
    """(Content-Type, body, chunked): a form, perhaps truncated, padded or garbage."""
    boundary = draw(st.sampled_from(BOUNDARIES))
    template = draw(st.sampled_from(CONTENT_TYPES))
    content_type = template % boundary if b"%s" in template else template
    body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in draw(parts(fields)))
    body += b"--" + boundary + b"--\r\n" if draw(st.booleans()) else b""
    mangle = draw(st.sampled_from(["none", "truncate", "garbage", "replace"]))
    if mangle == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif mangle == "garbage":
        body += draw(st.binary(min_size=1, max_size=500))
    elif mangle == "replace":
        body = draw(st.binary(max_size=2000))
    return content_type, body, draw(st.booleans())


def test_no_malformed_multipart_upload_is_a_server_error(server: Server) -> None:
    session = requests.Session()
    grants = [create(session, server.url, f"fuzz{n}.dcm", 100) for n in range(3)]
    upload_url = grants[0]["upload"]["url"]

    @given(
        grant=st.sampled_from(grants),
        data=st.data(),
    )
    @settings(FUZZ_SETTINGS, max_examples=MULTIPART_EXAMPLES)
    def no_server_error(grant: dict[str, Any], data: st.DataObject) -> None:
        content_type, body, chunked = data.draw(forms(grant["upload"]["fields"]))
        payload: Any = iter([body[:7], body[7:]]) if chunked else body
        with requests.Session() as fresh:
            response = fresh.post(
                upload_url, data=payload, headers={"Content-Type": content_type}, timeout=30
            )
        assert response.status_code < 500, response.text
        assert response.status_code == 204 or response.json()["error"]["code"]

    no_server_error()


def raw_request(url: str, head: bytes, body: bytes = b"") -> bytes:
    """Send bytes as they are; the status line of the answer (b"" if the server closed)."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname or "127.0.0.1", where.port or 80), 10) as s:
        s.sendall(head + b"\r\n\r\n" + body)
        s.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return data.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ([b"Content-Length: -1"], b"x"),
        ([b"Content-Length: 99999999999999999999999999999"], b"x"),
        ([b"Content-Length: \xc2\xb2"], b"x"),
        ([b"Content-Length: 5", b"Content-Length: 6"], b"xxxxx"),
        ([b"Transfer-Encoding: chunked"], b"zz\r\nxx\r\n0\r\n\r\n"),
        ([b"Transfer-Encoding: chunked"], b"fffffffffffffffffff\r\nx\r\n"),
        ([b"Transfer-Encoding: chunked", b"Content-Length: 3"], b"3\r\nabc\r\n0\r\n\r\n"),
        ([b"Content-Type: multipart/form-data; boundary=\xff\xfe", b"Content-Length: 3"], b"abc"),
        ([b"Content-Type: " + b"m" * 20000, b"Content-Length: 3"], b"abc"),
        ([b"X-\xff: \xfe", b"Content-Length: 0"], b""),
    ],
)
def test_malformed_http_framing_to_the_upload_endpoint_is_not_a_server_error(
    server: Server, headers: list[bytes], body: bytes
) -> None:
    host = urlsplit(server.url).netloc.encode()
    head = b"\r\n".join([b"POST /_upload HTTP/1.1", b"Host: " + host, *headers])
    status_line = raw_request(server.url, head, body)
    assert not status_line.startswith(b"HTTP/1.1 5"), status_line


def test_the_openapi_document_itself_is_served(server: Server) -> None:
    assert requests.get(f"{server.url}/openapi.json", timeout=30).json()["paths"]
