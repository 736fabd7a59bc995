"""``/viewer/``: the OHIF build (:mod:`dicomlens.viewer.ohif`), its ``app-config.js``
pointing at this server's ``/dicomweb``, and its client-side routes (``/viewer/viewer?...``
is the page itself). Without an installed build every ``/viewer/`` page says how to install
it (503) rather than half-loading.

A browser that accepts gzip gets an asset's precompressed copy (``name.gz``, written at
install, see :func:`dicomlens.viewer.ohif.precompress`). Assets whose names carry a content
hash (webpack's ``[contenthash]``) never change under that name: they may be cached for a
year without revalidation; other assets for an hour; the app page and its config not at all.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dicomlens.dicomweb.content_coding import accepts_gzip
from dicomlens.viewer.ohif import GZIP_SUFFIX, app_config_js, missing_page
from dicomlens.viewer.site_files import IMMUTABLE, content_type, has_content_hash

INSTALL_COMMAND = "make viewer   # or: .venv/bin/dicomlens viewer install"
REVALIDATED = "public, max-age=3600"


def cache_control(name: str) -> str:
    """The ``Cache-Control`` of an asset: immutable when its name holds a content hash."""
    return IMMUTABLE if has_content_hash(name) else REVALIDATED


def asset_response(file: Path, accept_encoding: str) -> Response:
    """``file`` as stored, or its precompressed copy when there is one and the client
    accepts gzip (then ``Content-Encoding: gzip``); the media type is the asset's, from
    the same table as the deployed site's (:func:`dicomlens.viewer.site_files.content_type`)."""
    headers = {"Cache-Control": cache_control(file.name)}
    media_type = content_type(file.name)
    packed = file.with_name(file.name + GZIP_SUFFIX)
    if not packed.is_file():
        return FileResponse(file, media_type=media_type, headers=headers)
    headers["Vary"] = "Accept-Encoding"
    if not accepts_gzip(accept_encoding):
        return FileResponse(file, media_type=media_type, headers=headers)
    headers["Content-Encoding"] = "gzip"
    return FileResponse(packed, media_type=media_type, headers=headers)


def viewer_routes(build: Path | None, *, session_path: str | None = None) -> list[BaseRoute]:
    """The viewer's routes, serving the prepared ``build`` (None: not installed).

    ``session_path``: the viewer-session endpoint of a server that needs its API token; the
    viewer then asks for the token when ``/dicomweb`` answers 401 (the token is never in
    anything these routes serve)."""
    root = build.resolve() if build is not None else None

    async def config(request: Request) -> Response:
        dicomweb = f"{request.url.scheme}://{request.url.netloc}/dicomweb"
        return Response(
            app_config_js(dicomweb, session_path=session_path),
            media_type="application/javascript",
            headers={"Cache-Control": "no-store"},
        )

    async def page(request: Request) -> Response:
        if root is None:
            return HTMLResponse(missing_page(INSTALL_COMMAND), status_code=503)
        wanted = str(request.path_params.get("path", ""))
        file = (root / wanted).resolve()
        if wanted and file.is_relative_to(root) and file.is_file():
            return asset_response(file, request.headers.get("accept-encoding", ""))
        if "." in wanted.rsplit("/", 1)[-1]:  # a missing asset, not a page of the app
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(root / "index.html", headers={"Cache-Control": "no-store"})

    async def bare(request: Request) -> Response:
        del request
        return RedirectResponse("/viewer/", status_code=308)

    return [
        Route("/viewer", bare, methods=["GET", "HEAD"]),
        Route("/viewer/app-config.js", config, methods=["GET", "HEAD"]),
        Route("/viewer/{path:path}", page, methods=["GET", "HEAD"]),
    ]
