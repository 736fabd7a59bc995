"""The local HTTP server: API Gateway for the template's routes, S3 for uploads and signed
downloads, the static web page, ``/config.json`` and the bundled samples.

API routes are built from the template (:mod:`dicomlens.local.routes`); each request becomes
an HTTP API v2 event for the handler the template names. The handlers run on the event loop
(each is one short SQLite read or write); parallelism comes from several HTTP processes
sharing the listening socket (see :mod:`dicomlens.local.runtime`). De-identification runs
in worker processes (:mod:`dicomlens.local.isolated_calls`).
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
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dicomlens import bootstrap
from dicomlens.adapters.local.files import BLOBS_PATH, UPLOAD_PATH, LocalBlobStore
from dicomlens.domain.errors import DicomlensError, ErrorCode, error_body
from dicomlens.local import routes as route_table
from dicomlens.local.apigw import LocalLambdaContext, http_api_event, http_reply
from dicomlens.local.event_queue import EventQueue
from dicomlens.local.isolated_calls import IsolatedCalls
from dicomlens.local.s3_events import object_created_event
from dicomlens.local.samples import bundled_samples
from dicomlens.local.upload_endpoint import (
    FORM_OVERHEAD_BYTES,
    FormUpload,
    UploadRefusedError,
)
from dicomlens.ports import Clock

log = logging.getLogger(__name__)

MAX_API_BODY = 1024 * 1024  # API Gateway would allow 10 MB; our JSON bodies are tiny


LIGHT_FUNCTION_MB = 256


def _error(status: int, code: ErrorCode, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status)


def api_endpoint(route: route_table.Route) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that invokes the route's Lambda handler with a v2 event.

    Light API functions run on the event loop, one call at a time, as in one Lambda
    instance (Powertools resolvers keep per-call state). Compute functions (given more than
    ``LIGHT_FUNCTION_MB`` in the template: de-identification with OCR) run in worker
    processes with a hard time limit (:mod:`dicomlens.local.isolated_calls`), started on
    first use, so that their memory and time never weigh on the server.
    """
    handler = route_table.import_handler(route.handler)
    context = LocalLambdaContext(function_name=route.function)
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
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_API_BODY:
            return _error(413, ErrorCode.TOO_LARGE, "the request body is too large")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_API_BODY:
                return _error(413, ErrorCode.TOO_LARGE, "the request body is too large")
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
        )
        if route.memory_mb > LIGHT_FUNCTION_MB:
            reply = http_reply(await invoke_isolated(event))
        else:
            reply = http_reply(handler(event, context))
        response = Response(content=reply.body, status_code=reply.status)
        for name, value in reply.headers:
            if name != "content-length":
                response.headers.append(name, value)
        return response

    return endpoint


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
    ) -> None:
        self._blobs = blobs
        self._queue = queue
        self._clock = clock
        self._max_bytes = max_bytes
        self._notify = notify
        self._sequence = 0

    async def receive(self, request: Request) -> Response:
        """Handle one form upload."""
        declared = request.headers.get("content-length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) > self._max_bytes + FORM_OVERHEAD_BYTES
        ):
            return _error(413, ErrorCode.TOO_LARGE, "the upload is larger than allowed")
        try:
            form = FormUpload(
                content_type=request.headers.get("content-type", ""),
                blobs=self._blobs,
                clock=self._clock,
            )
        except UploadRefusedError as refused:
            return Response(refused.body(), refused.status, media_type="application/json")
        try:
            async for chunk in request.stream():
                form.feed(chunk)
            # fsync of a large file would stall every other request on this event loop.
            stored = await run_in_threadpool(form.finish)
        except UploadRefusedError as refused:
            form.discard()
            return Response(refused.body(), refused.status, media_type="application/json")
        except DicomlensError as exc:
            form.discard()
            return _error(400, ErrorCode.UPLOAD_REJECTED, exc.message)
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
        self._queue.put(stored.key, event)
        self._notify()
        return Response(status_code=204, headers={"ETag": f'"{stored.etag}"'})


def blob_endpoint(blobs: LocalBlobStore, clock: Clock) -> Callable[[Request], Awaitable[Response]]:
    """``GET /_blobs/{key}``: a signed, expiring read of one object."""

    async def endpoint(request: Request) -> Response:
        key = request.path_params["key"]
        query = request.query_params
        expires = query.get("expires", "")
        name = query.get("name", "")
        if not expires.isdigit() or not blobs.signer.verify_download(
            key, expires=int(expires), name=name, signature=query.get("sig", ""), now=clock.now()
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
) -> Starlette:
    """The whole local server."""
    config = json.dumps({"apiBaseUrl": api_base_url}).encode()

    async def config_json(request: Request) -> Response:
        del request
        return Response(
            config, media_type="application/json", headers={"Cache-Control": "no-store"}
        )

    app_routes: list[BaseRoute] = [
        Route(
            r.starlette_path(), api_endpoint(r), methods=None if r.method == "ANY" else [r.method]
        )
        for r in routes
    ]
    receiver = UploadReceiver(
        blobs=blobs, queue=queue, clock=clock, max_bytes=max_upload_bytes, notify=notify
    )
    app_routes += [
        Route(UPLOAD_PATH, receiver.receive, methods=["POST"]),
        Route(BLOBS_PATH + "{key:path}", blob_endpoint(blobs, clock), methods=["GET", "HEAD"]),
        Route("/config.json", config_json, methods=["GET"]),
        *sample_routes(),
    ]
    if web_dir is not None and web_dir.is_dir():
        app_routes.append(Mount("/", StaticFiles(directory=web_dir, html=True), name="web"))
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=[cors_origin],
            allow_methods=["GET", "POST", "HEAD", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["ETag"],
            max_age=600,
        )
    ]
    return Starlette(routes=app_routes, middleware=middleware)
