"""What the local server checks before any route runs: the Host header, the API token, and
a last resort for errors nothing else handled.

- **Host** (:class:`HostGuard`): a page on another site can make its own name resolve to
  127.0.0.1 (DNS rebinding) and then read this server's answers as same-origin. Its
  requests still carry its own name in ``Host``, so only the names the server is reached by
  are served: the loopback names, the bound address, ``public_url``'s host and any
  configured extra, each with the port (421 ``HOST_NOT_ALLOWED`` otherwise).
- **Token** (:class:`BearerToken`): on a non-loopback address the API and the upload
  endpoint need ``Authorization: Bearer <DICOMLENS_API_TOKEN>`` (401 ``UNAUTHORIZED``);
  DICOMweb reads also take a viewer-session cookie (:mod:`dicomlens.local.viewer_session`).
- **Unexpected errors** (:class:`UnexpectedErrorGuard`): a 500 with the error body and no
  detail; the log line names the exception type and where it was raised, never its message
  (which may hold a value from a request or a file).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dicomlens.adapters.local.signing import same_text
from dicomlens.adapters.local.storage_full import STORAGE_FULL_MESSAGE, is_storage_full
from dicomlens.domain.errors import ErrorCode, TransientError, error_body, where_raised

if TYPE_CHECKING:
    from dicomlens.local.viewer_session import ViewerSessions

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
MIN_TOKEN_CHARS = 16
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - names of the wildcard, not a bind

Endpoint = Callable[[Request], Awaitable[Response]]


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_problem(host: str, token: str | None) -> str | None:
    """Why a server on ``host`` with API token ``token`` must not start, or None."""
    if token is None:
        if is_loopback(host):
            return None
        return (
            f"--host {host} is reachable from other machines; set DICOMLENS_API_TOKEN to a"
            " long random secret to allow that (clients then send it as"
            " 'Authorization: Bearer <token>')"
        )
    if len(token) < MIN_TOKEN_CHARS:
        return f"DICOMLENS_API_TOKEN must be at least {MIN_TOKEN_CHARS} characters"
    return None


def allowed_host_headers(
    *, host: str, port: int, public_host: str | None = None, extra: Iterable[str] = ()
) -> frozenset[str] | None:
    """The ``Host`` header values a server bound to ``host:port`` answers (lower case).

    None (any Host) for a wildcard bind without ``extra`` names: the machine's names are not
    known, and such a server requires the API token anyway. A name without a port in
    ``extra`` or ``public_host`` is accepted with any port.
    """
    if host in WILDCARD_HOSTS and not extra:
        return None
    bound = f"[{host}]" if ":" in host else host
    names = {name.lower() for name in (*LOOPBACK_NAMES, bound)}
    # The names alone too: some clients (dicomweb-client) send Host without the port. A
    # rebinding page cannot: its requests carry its own name.
    allowed = {f"{name}:{port}" for name in names} | names
    for name in (*extra, *([public_host] if public_host else [])):
        allowed.add(name.lower())
    return frozenset(allowed)


def _error_response(status: int, code: ErrorCode, message: str, **headers: str) -> Response:
    return Response(
        json.dumps(error_body(code, message)),
        status_code=status,
        media_type="application/json",
        headers=headers or None,
    )


class HostGuard:
    """ASGI middleware: refuse requests whose ``Host`` is not one the server is reached by."""

    def __init__(self, app: ASGIApp, *, allowed: frozenset[str] | None) -> None:
        self._app = app
        self._allowed = allowed

    def _accepts(self, host: str) -> bool:
        assert self._allowed is not None  # noqa: S101 - checked by the caller
        host = host.strip().lower()
        if host in self._allowed:
            return True
        name, _, port = host.rpartition(":")
        return bool(port.isascii() and port.isdigit() and name in self._allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._allowed is None or scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        hosts = [v for k, v in scope.get("headers", ()) if k == b"host"]
        if len(hosts) == 1 and self._accepts(hosts[0].decode("latin-1")):
            await self._app(scope, receive, send)
            return
        response = _error_response(
            421, ErrorCode.HOST_NOT_ALLOWED, "this server does not answer for that host name"
        )
        await response(scope, receive, send)


class BearerToken:
    """``Authorization: Bearer <token>`` on the endpoints it protects (none when no token).

    ``sessions``: viewer sessions, which endpoints protected with ``session_reads`` accept
    instead of the token for reads (GET/HEAD under ``/dicomweb``).
    """

    def __init__(self, token: str | None, *, sessions: ViewerSessions | None = None) -> None:
        self._token = token or None
        self._sessions = sessions

    def protect(self, endpoint: Endpoint, *, session_reads: bool = False) -> Endpoint:
        """``endpoint``, answering 401 unless the request carries the token (or, with
        ``session_reads``, is a read with a valid viewer-session cookie)."""
        token = self._token
        if token is None:
            return endpoint
        sessions = self._sessions if session_reads else None

        async def protected(request: Request) -> Response:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and same_text(token, given.strip()):
                return await endpoint(request)
            if sessions is not None and sessions.admits_read(request):
                return await endpoint(request)
            return _error_response(
                401,
                ErrorCode.UNAUTHORIZED,
                "this server needs its API token (Authorization: Bearer ...)"
                + (
                    "; in a browser, open /viewer/ and enter it there for a viewer session"
                    if sessions is not None
                    else ""
                ),
                **{"WWW-Authenticate": "Bearer"},
            )

        return protected


class UnexpectedErrorGuard:
    """ASGI middleware: an exception no route handled becomes a 500 with the error body (a
    503 ``SERVICE_UNAVAILABLE`` for a transient one, such as a full disk).

    A client that went away (``ClientDisconnect``) is one warning line and no answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, receive, tracking_send)
        except ClientDisconnect:
            log.warning("a client disconnected mid-request")
        except Exception as exc:
            if isinstance(exc, TransientError) or is_storage_full(exc):
                # a full disk (or another transient failure): 503, the client retries later
                log.warning("request refused for now: %s", where_raised(exc))
                message = exc.message if isinstance(exc, TransientError) else STORAGE_FULL_MESSAGE
                if not started:
                    unavailable = _error_response(503, ErrorCode.SERVICE_UNAVAILABLE, message)
                    await unavailable(scope, receive, send)
                return
            log.error("unexpected error: %s", where_raised(exc))
            if not started:
                response = _error_response(500, ErrorCode.INTERNAL, "internal error")
                await response(scope, receive, send)
