"""The local HTTP server: API Gateway for the template's routes, S3 for uploads and signed
downloads, the static web page, ``/config.json`` and the bundled samples.

API routes are built from the template (:mod:`dicomlens.local.routes`); each request becomes
an HTTP API v2 event for the handler the template names. The handlers run on the event loop
(each is one short SQLite read or write); parallelism comes from several HTTP processes
sharing the listening socket (see :mod:`dicomlens.local.runtime`). De-identification runs
in worker processes (:mod:`dicomlens.local.isolated_calls`).

No request a client can send is a 500: what a client got wrong is a 4xx with the error body
(``{"error": {"code", "message"}}``); a client that goes away mid-request is one warning
line; anything else is a bug, answered 500 with that body (never a traceback) and logged as
one line naming the exception type and where it was raised (:mod:`dicomlens.local.guards`).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dicomlens import bootstrap
from dicomlens.adapters.local.files import BLOBS_PATH, UPLOAD_PATH, LocalBlobStore
from dicomlens.domain.errors import DicomlensError, ErrorCode, TransientError, error_body
from dicomlens.local import routes as route_table
from dicomlens.local.apigw import LocalLambdaContext, http_api_event, http_reply
from dicomlens.local.event_queue import EventQueue
from dicomlens.local.guards import BearerToken, HostGuard, UnexpectedErrorGuard
from dicomlens.local.isolated_calls import IsolatedCalls
from dicomlens.local.job_wait import JOB_ROUTE_KEY, JobWaiter, requested_wait
from dicomlens.local.s3_events import object_created_event
from dicomlens.local.samples import bundled_samples
from dicomlens.local.upload_endpoint import (
    FORM_OVERHEAD_BYTES,
    FormLimits,
    FormUpload,
    StoredUpload,
    UploadRefusedError,
)
from dicomlens.local.viewer_routes import viewer_routes
from dicomlens.local.viewer_session import SESSION_PATH, ViewerSessions
from dicomlens.ports import Clock

log = logging.getLogger(__name__)

MAX_API_BODY = 1024 * 1024  # API Gateway would allow 10 MB; our JSON bodies are tiny
VIEWER_URL = "/viewer/"  # config.json's viewerUrl: where viewer_routes() serve OHIF


LIGHT_FUNCTION_MB = 256
# a template route of method ANY (Starlette's default for a function endpoint is GET/HEAD)
ANY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


MAX_LENGTH_DIGITS = 18  # a Content-Length or an expiry longer than this is not a real one


def _error(
    status: int, code: ErrorCode, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def ascii_number(text: str | None) -> int | None:
    """``text`` as a non-negative integer if it is one in ASCII digits, else None.

    ``str.isdigit`` also accepts superscripts and other scripts' digits (which ``int``
    refuses, or reads as a different string than the one signed); very long numbers are
    refused before ``int`` does the quadratic work or hits its digit limit.
    """
    if text is None or not text.isascii() or not text.isdigit():
        return None
    if len(text) > MAX_LENGTH_DIGITS:
        return int("9" * MAX_LENGTH_DIGITS)
    return int(text)


def _too_long(request: Request, limit: int) -> bool:
    declared = ascii_number(request.headers.get("content-length"))
    return declared is not None and declared > limit


def api_endpoint(
    route: route_table.Route,
    *,
    max_body: int = MAX_API_BODY,
    job_waiter: JobWaiter | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that invokes the route's Lambda handler with a v2 event.

    Light API functions run on the event loop, one call at a time, as in one Lambda
    instance (Powertools resolvers keep per-call state). Compute functions (given more than
    ``LIGHT_FUNCTION_MB`` in the template: de-identification with OCR) run in worker
    processes with a hard time limit (:mod:`dicomlens.local.isolated_calls`), started on
    first use, so that their memory and time never weigh on the server. A handler marked
    ``thread_safe`` (DICOMweb: frames and renderings for many viewers at once) runs on the
    thread pool. ``max_body``: the largest request body taken. ``job_waiter``: holds
    ``GET /jobs/{jobId}?wait=s`` until the job has ended, before the handler answers
    (:mod:`dicomlens.local.job_wait`).
    """
    handler = route_table.import_handler(route.handler)
    threaded = bool(getattr(handler, "thread_safe", False))
    isolated: list[IsolatedCalls] = []

    async def invoke_isolated(event: dict[str, Any]) -> Any:
        if not isolated:
            settings = bootstrap.get_services().settings
            isolated.append(
                IsolatedCalls(
                    settings=settings,
                    handler_name=route.handler,
                    function=route.function,
                    size=settings.deid_workers,
                )
            )
        return await isolated[0].invoke(event)

    async def endpoint(request: Request) -> Response:
        if _too_long(request, max_body):
            return _error(413, ErrorCode.TOO_LARGE, "the request body is too large")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                return _error(
                    413,
                    ErrorCode.TOO_LARGE,
                    "the request body is too large",
                    headers={"Connection": "close"},
                )
        if job_waiter is not None and route.route_key == JOB_ROUTE_KEY:
            await job_waiter.until_ended(
                str(request.path_params.get("jobId", "")),
                requested_wait(request.url.query),
                disconnected=request.is_disconnected,
            )
        # A context per invocation, as Lambda gives: its own request id and deadline.
        context = LocalLambdaContext(function_name=route.function)
        client = request.client
        event = http_api_event(
            method=request.method,
            raw_path=request.url.path,
            raw_query=request.url.query,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            body=bytes(body),
            route_key=route.route_key,
            path_parameters={k: str(v) for k, v in request.path_params.items()},
            source_ip=client.host if client else "127.0.0.1",
            domain_name=request.url.netloc,
            forwarded=(request.url.scheme, _server_port(request)),
        )
        if threaded:
            reply = http_reply(await run_in_threadpool(handler, event, context))
        elif route.memory_mb > LIGHT_FUNCTION_MB:
            reply = http_reply(await invoke_isolated(event))
        else:
            reply = http_reply(handler(event, context))
        response = Response(content=reply.body, status_code=reply.status)
        for name, value in reply.headers:
            if name != "content-length":
                response.headers.append(name, value)
        return response

    return endpoint


def _server_port(request: Request) -> int:
    """The port this server received ``request`` on."""
    server = request.scope.get("server")
    if server and server[1] is not None:
        return int(server[1])
    return 443 if request.url.scheme == "https" else 80


class UploadReceiver:
    """``POST /_upload``: receive, publish, queue the ObjectCreated event, wake a worker."""

    def __init__(
        self,
        *,
        blobs: LocalBlobStore,
        queue: EventQueue,
        clock: Clock,
        max_bytes: int,
        notify: Callable[[], None],
        limits: FormLimits | None = None,
    ) -> None:
        self._blobs = blobs
        self._queue = queue
        self._clock = clock
        self._max_bytes = max_bytes
        self._max_body = max_bytes + FORM_OVERHEAD_BYTES
        self._notify = notify
        self._limits = limits or FormLimits()
        self._sequence = 0

    async def receive(self, request: Request) -> Response:
        """Handle one form upload."""
        if _too_long(request, self._max_body):
            return _error(413, ErrorCode.TOO_LARGE, "the upload is larger than allowed")
        try:
            form = FormUpload(
                content_type=request.headers.get("content-type", ""),
                blobs=self._blobs,
                clock=self._clock,
                limits=self._limits,
            )
        except UploadRefusedError as refused:
            return _refusal(refused)
        try:
            stored = await self._store(request, form)
        except UploadRefusedError as refused:
            form.discard()
            return _refusal(refused)
        except TransientError as exc:
            form.discard()
            return _unavailable(exc.message)
        except DicomlensError as exc:
            form.discard()
            return _error(400, ErrorCode.UPLOAD_REJECTED, exc.message)
        except ClientDisconnect:
            form.discard()
            log.warning("an upload was abandoned: the client disconnected mid-request")
            return _error(400, ErrorCode.UPLOAD_REJECTED, "the client disconnected")
        except BaseException:
            form.discard()
            raise
        self._sequence += 1
        client = request.client
        event = object_created_event(
            key=stored.key,
            size=stored.size,
            etag=stored.etag,
            source_ip=client.host if client else "127.0.0.1",
            sequencer=time.time_ns() + self._sequence,
        )
        try:
            self._queue.put(stored.key, event)
        except Exception as exc:
            # Not queued, so not accepted: the file goes too, and the client may post the
            # form again (a published file without its event would wait for a restart)
            self._blobs.path_of(stored.key).unlink(missing_ok=True)
            if isinstance(exc, TransientError):
                return _unavailable(exc.message)
            raise
        self._notify()
        return Response(status_code=204, headers={"ETag": f'"{stored.etag}"'})

    async def _store(self, request: Request, form: FormUpload) -> StoredUpload:
        """Stream the body into ``form`` (at most the file's limit plus the form's framing,
        also when no Content-Length was sent) and publish it."""
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > self._max_body:
                raise UploadRefusedError(
                    413, str(ErrorCode.TOO_LARGE), "the upload is larger than allowed"
                )
            form.feed(chunk)
        # fsync of a large file would stall every other request on this event loop.
        return await run_in_threadpool(form.finish)


def _unavailable(message: str) -> Response:
    """503 SERVICE_UNAVAILABLE (a full disk): nothing was stored; the form may be posted
    again. The connection closes, as for a refusal (the body may be unread)."""
    return _error(
        503,
        ErrorCode.SERVICE_UNAVAILABLE,
        message,
        headers={"Connection": "close", "Retry-After": "30"},
    )


def _refusal(refused: UploadRefusedError) -> Response:
    """A refused upload's answer. The connection closes: the rest of a refused body is not
    read, so it could not carry another request."""
    return Response(
        refused.body(),
        refused.status,
        media_type="application/json",
        headers={"Connection": "close"},
    )


def blob_endpoint(blobs: LocalBlobStore, clock: Clock) -> Callable[[Request], Awaitable[Response]]:
    """``GET /_blobs/{key}``: a signed, expiring read of one object."""

    async def endpoint(request: Request) -> Response:
        key = request.path_params["key"]
        query = request.query_params
        expires = ascii_number(query.get("expires"))
        name = query.get("name", "")
        if expires is None or not blobs.signer.verify_download(
            key, expires=expires, name=name, signature=query.get("sig", ""), now=clock.now()
        ):
            return _error(403, ErrorCode.UPLOAD_REJECTED, "the link is invalid or has expired")
        try:
            path = blobs.path_of(key)
        except DicomlensError:
            return _error(404, ErrorCode.NOT_FOUND, "no such object")
        if not path.is_file():
            return _error(404, ErrorCode.NOT_FOUND, "no such object")
        media_type = mimetypes.guess_type(path.name)[0] if key.startswith("derived/") else None
        headers = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
        return FileResponse(
            path,
            media_type=media_type or "application/octet-stream",
            filename=name or None,
            headers=headers,
            content_disposition_type="attachment" if name else "inline",
        )

    return endpoint


def sample_routes() -> list[BaseRoute]:
    """``GET /samples/index.json`` and ``GET /samples/{name}``."""
    samples = bundled_samples()

    async def index(request: Request) -> Response:
        del request
        return JSONResponse(
            {
                "samples": [
                    {
                        "name": s.name,
                        "description": s.description,
                        "size": s.path.stat().st_size,
                        "contentType": "application/dicom",
                        "url": f"/samples/{s.name}",
                    }
                    for s in samples.values()
                ]
            }
        )

    async def one(request: Request) -> Response:
        sample = samples.get(request.path_params["name"])
        if sample is None:
            return _error(404, ErrorCode.NOT_FOUND, "no such sample")
        return FileResponse(sample.path, media_type="application/dicom")

    return [Route("/samples/index.json", index), Route("/samples/{name}", one)]


def build_app(
    *,
    routes: list[route_table.Route],
    blobs: LocalBlobStore,
    queue: EventQueue,
    clock: Clock,
    max_upload_bytes: int,
    notify: Callable[[], None],
    api_base_url: str,
    cors_origin: str,
    web_dir: Path | None,
    form_limits: FormLimits | None = None,
    allowed_hosts: frozenset[str] | None = None,
    api_token: str | None = None,
    dicomweb_max_body: int = MAX_API_BODY,
    viewer_build: Path | None = None,
    dicomweb: bool = True,
    job_waiter: JobWaiter | None = None,
) -> Starlette:
    """The whole local server.

    ``allowed_hosts``: the Host header values served (None: any). ``api_token``: when set,
    the API and the upload endpoint need ``Authorization: Bearer <api_token>``; the page,
    ``/config.json``, the samples and the signed ``/_blobs`` links do not (config.json then
    says ``apiTokenRequired`` and the page asks its user for the token). With a token,
    ``POST /viewer-session`` trades it for a cookie that DICOMweb reads accept, so that the
    viewer works without ever holding the token (:mod:`dicomlens.local.viewer_session`).
    ``dicomweb_max_body``: the largest STOW-RS body (other API bodies: ``MAX_API_BODY``).
    ``viewer_build``: the installed OHIF build served at ``/viewer/`` (None: a page there
    says how to install it). ``dicomweb``: whether the routes serve DICOMweb (the viewer's
    data); with an installed build, config.json then says ``viewerUrl`` and the page links
    each study to the viewer. ``job_waiter``: serves ``GET /jobs/{jobId}?wait=s``
    (None: such requests are answered at once).
    """
    settings: dict[str, object] = {"apiBaseUrl": api_base_url}
    if api_token:
        settings["apiTokenRequired"] = True
    if viewer_build is not None and dicomweb:
        settings["viewerUrl"] = VIEWER_URL
    config = json.dumps(settings).encode()
    sessions = (
        ViewerSessions(api_token, clock=clock, secure=api_base_url.startswith("https://"))
        if api_token
        else None
    )
    bearer = BearerToken(api_token, sessions=sessions)

    async def config_json(request: Request) -> Response:
        del request
        return Response(
            config, media_type="application/json", headers={"Cache-Control": "no-store"}
        )

    app_routes: list[BaseRoute] = [
        Route(
            r.starlette_path(),
            bearer.protect(
                api_endpoint(
                    r,
                    max_body=dicomweb_max_body if r.path.startswith("/dicomweb") else MAX_API_BODY,
                    job_waiter=job_waiter,
                ),
                session_reads=r.path.startswith("/dicomweb/"),
            ),
            methods=ANY_METHODS if r.method == "ANY" else [r.method],
        )
        for r in routes
    ]
    receiver = UploadReceiver(
        blobs=blobs,
        queue=queue,
        clock=clock,
        max_bytes=max_upload_bytes,
        notify=notify,
        limits=form_limits,
    )
    app_routes += [
        Route(UPLOAD_PATH, bearer.protect(receiver.receive), methods=["POST"]),
        Route(BLOBS_PATH + "{key:path}", blob_endpoint(blobs, clock), methods=["GET", "HEAD"]),
        Route("/config.json", config_json, methods=["GET"]),
        *sample_routes(),
        *viewer_routes(viewer_build, session_path=SESSION_PATH if sessions else None),
    ]
    if sessions is not None:
        app_routes.append(
            Route(SESSION_PATH, bearer.protect(sessions.endpoint()), methods=["POST"])
        )
    if web_dir is not None and web_dir.is_dir():
        app_routes.append(Mount("/", StaticFiles(directory=web_dir, html=True), name="web"))
    middleware = [
        Middleware(UnexpectedErrorGuard),
        Middleware(HostGuard, allowed=allowed_hosts),
        Middleware(
            CORSMiddleware,
            allow_origins=[cors_origin],
            allow_methods=["GET", "POST", "HEAD", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["ETag", "Warning", "Content-Location", "Location"],
            max_age=600,
        ),
    ]
    return Starlette(
        routes=app_routes,
        middleware=middleware,
        exception_handlers={HTTPException: _http_exception},
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, method not allowed) in the error shape."""
    del request
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else None
    if status == 404:
        return _error(status, ErrorCode.NOT_FOUND, "no such route", headers=headers)
    if status >= 500:
        return _error(status, ErrorCode.INTERNAL, "internal error", headers=headers)
    return _error(
        status, ErrorCode.VALIDATION_ERROR, "the request is not allowed here", headers=headers
    )
