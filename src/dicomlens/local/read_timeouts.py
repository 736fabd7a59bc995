"""Read timeouts for uvicorn's HTTP protocol: slow clients cannot hold connections open.

uvicorn closes idle keep-alive connections but gives a request unlimited time to arrive: a
"slowloris" client that sends a header line every few seconds, or a body one byte at a time,
holds its socket (and the request's buffers) forever. This protocol adds three limits:

- a request's line and headers must arrive within ``header_timeout_s`` of its first byte
  (or of the connection, for a client that sends nothing): otherwise 408 and close;
- at most ``max_header_bytes`` of them (431 and close beyond; uvicorn's httptools parser has
  no limit of its own);
- while a body is being received, the gap between two chunks may not exceed
  ``body_idle_timeout_s``: otherwise the connection is closed and the application sees the
  client disconnect. Time the server itself is not reading (flow control paused it because
  the application is busy) does not count.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from dicomlens.domain.errors import ErrorCode, error_body

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024


def _reply(status: int, reason: str, code: ErrorCode, message: str) -> bytes:
    body = json.dumps(error_body(code, message)).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class TimedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body read timeouts (see the module)."""

    header_timeout_s = 10.0
    body_idle_timeout_s = 30.0
    max_header_bytes = MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._in_headers = False
        self._header_bytes = 0
        self._last_body_at = 0.0

    # Header phase: from the connection (or a request's first byte) to its headers' end.

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._begin_headers()

    def _begin_headers(self) -> None:
        self._in_headers = True
        self._header_bytes = 0
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _end_headers(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._in_headers and not self.transport.is_closing():
            self._refuse(408, "Request Timeout", "the request headers did not arrive in time")

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._end_headers()
        self.transport.write(_reply(status, reason, ErrorCode.REQUEST_TIMEOUT, message))
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        """Feed the parser; refuse headers that grow past ``max_header_bytes``."""
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._in_headers and self._header_bytes > self.max_header_bytes:
            self._refuse(431, "Request Header Fields Too Large", "the request headers are too long")
        if self._body_timer is not None:
            self._last_body_at = self.loop.time()

    def on_message_begin(self) -> None:
        """A new request (also after keep-alive): its headers' clock starts."""
        super().on_message_begin()
        if not self._in_headers:
            self._begin_headers()

    def on_headers_complete(self) -> None:
        """Headers done: the body's idle clock starts."""
        self._end_headers()
        super().on_headers_complete()
        self._last_body_at = self.loop.time()
        if self._body_timer is None:
            self._body_timer = self.loop.call_later(self.body_idle_timeout_s, self._body_idle)

    def on_message_complete(self) -> None:
        """The whole request arrived: no more read clocks until the next one."""
        super().on_message_complete()
        self._stop_body_timer()
        self._in_headers = False

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_idle(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self.flow.read_paused:  # the application is not reading yet: not the client's fault
            self._last_body_at = now
        idle = now - self._last_body_at
        if idle < self.body_idle_timeout_s:
            self._body_timer = self.loop.call_later(
                self.body_idle_timeout_s - idle, self._body_idle
            )
            return
        # The application sees the disconnect and logs it (one line per abandoned request).
        log.debug("closed a connection whose request body stalled")
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop every clock of the connection."""
        self._end_headers()
        self._stop_body_timer()
        super().connection_lost(exc)


def timed_protocol(
    *, header_timeout_s: float, body_idle_timeout_s: float
) -> type[TimedHttpProtocol]:
    """A :class:`TimedHttpProtocol` class with these limits (uvicorn takes a class)."""
    return type(
        "TimedHttpProtocol",
        (TimedHttpProtocol,),
        {"header_timeout_s": header_timeout_s, "body_idle_timeout_s": body_idle_timeout_s},
    )
