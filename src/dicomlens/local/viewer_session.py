"""Viewer sessions: how OHIF reads ``/dicomweb`` on a server that needs its API token.

OHIF cannot send ``Authorization: Bearer`` (its app config is a file served without
authentication, so the token can never be written into it). Instead a person who has the
token trades it, once, for a cookie: ``POST /viewer-session`` with the token in the
Authorization header answers 204 and sets ``dicomlens_viewer``:

- **HttpOnly** (no script reads it), **SameSite=Strict** (no other site's page makes the
  browser send it), **Path=/dicomweb** (sent nowhere else), **Secure** when the server is
  reached over HTTPS, **Max-Age** 8 hours (a working day).
- Its value is ``<expiry>.<HMAC-SHA256 of the expiry under the token>``: nothing to store
  (the server's processes all check it alike), nothing the token can be read back from,
  and changing the token ends every session at once.
- It is accepted only for GET and HEAD under ``/dicomweb`` (:class:`dicomlens.local.guards.
  BearerToken`): reads, which a cross-site page could not read the answers of anyway (CORS
  allows only the site's origin, without credentials). STOW and every other API call still
  need the token itself, so the cookie cannot be used to change anything (no CSRF).
- The session endpoint itself needs the Authorization header (the server protects it with
  the same :class:`~dicomlens.local.guards.BearerToken` as the API), which a cross-site form
  cannot send: no page can log a browser into a session it chose.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from dicomlens.adapters.local.signing import same_text
from dicomlens.ports import Clock

SESSION_PATH = "/viewer-session"
COOKIE = "dicomlens_viewer"
COOKIE_PATH = "/dicomweb"
LIFETIME_S = 8 * 3600
READ_METHODS = frozenset({"GET", "HEAD"})
_MAX_COOKIE_CHARS = 100


class ViewerSessions:
    """Mints and checks viewer-session cookies for the API token ``token``."""

    def __init__(
        self, token: str, *, clock: Clock, secure: bool = False, lifetime_s: int = LIFETIME_S
    ) -> None:
        self._key = hashlib.sha256(b"dicomlens viewer session\0" + token.encode()).digest()
        self._clock = clock
        self._secure = secure
        self._lifetime_s = lifetime_s

    def _mac(self, expires: int) -> str:
        return hmac.new(self._key, str(expires).encode(), hashlib.sha256).hexdigest()

    def mint(self) -> str:
        """A new cookie value, valid for the session lifetime from now."""
        expires = int(self._clock.now().timestamp()) + self._lifetime_s
        return f"{expires}.{self._mac(expires)}"

    def valid(self, value: str | None) -> bool:
        """Whether ``value`` is a cookie this server minted that has not expired."""
        if not value or len(value) > _MAX_COOKIE_CHARS:
            return False
        expires_text, _, mac = value.partition(".")
        if not expires_text.isascii() or not expires_text.isdigit():
            return False
        expires = int(expires_text)
        now = self._clock.now().timestamp()
        if not now < expires <= now + self._lifetime_s:
            return False
        return same_text(self._mac(expires), mac)

    def admits_read(self, request: Request) -> bool:
        """Whether ``request`` is a read (GET/HEAD) under ``/dicomweb`` with a valid cookie."""
        return (
            request.method in READ_METHODS
            and (request.url.path == COOKIE_PATH or request.url.path.startswith(COOKIE_PATH + "/"))
            and self.valid(request.cookies.get(COOKIE))
        )

    def endpoint(self) -> Callable[[Request], Awaitable[Response]]:
        """``POST /viewer-session``: 204 with the cookie. Served only behind the API token's
        guard (:meth:`dicomlens.local.guards.BearerToken.protect`), which answers 401 to a
        request without the token."""

        async def open_session(request: Request) -> Response:
            response = Response(status_code=204, headers={"Cache-Control": "no-store"})
            response.set_cookie(
                COOKIE,
                self.mint(),
                max_age=self._lifetime_s,
                path=COOKIE_PATH,
                secure=self._secure or request.url.scheme == "https",
                httponly=True,
                samesite="strict",
            )
            return response

        return open_session
