"""DICOMweb (PS3.18): STOW-RS, QIDO-RS and WADO-RS under ``/dicomweb``, one Lambda function.

Routes are matched here, by path segments, rather than by Powertools' resolver: the
resolver keeps per-call state, and this function also runs on a thread pool in the local
server (many viewers fetch frames at once). Everything it uses per request is local or
thread-safe (the index keeps a connection per thread).

Errors are the API's ``{"error": {"code", "message"}}`` with the usual statuses (404 for
unknown UIDs, 406 when no acceptable representation exists, 415 for a body we cannot
read). Nothing of a request or an answer is logged: only the route's name, the status and
the time taken.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.utilities.typing import LambdaContext

from dicomlens import bootstrap
from dicomlens.dicomweb.bulk import OCTET_STREAM, read_bulk
from dicomlens.dicomweb.frames import frame_offers, parse_frame_list, read_frames
from dicomlens.dicomweb.media_types import parse_media_type
from dicomlens.dicomweb.model import IndexedInstance, QueryLevel
from dicomlens.dicomweb.multipart import Part, decode_multipart, encode_multipart
from dicomlens.dicomweb.negotiation import MULTIPART_RELATED, MediaOffer, choose
from dicomlens.dicomweb.rendered import (
    JPEG,
    is_default,
    parse_render_params,
    parse_viewport,
    render_frame,
    rendered_offers,
    thumbnail,
)
from dicomlens.dicomweb.transcode import DICOM, instance_bytes, instance_offers, wanted_syntax
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.handlers import report
from dicomlens.handlers.dicomweb_http import (
    DICOM_JSON,
    DicomWebRequest,
    binary_reply,
    error_reply,
    json_reply,
    read_request,
    redirect_reply,
    text_reply,
)
from dicomlens.handlers.observability import logger, tracer
from dicomlens.handlers.resolver import status_for
from dicomlens.services.dicomweb import instance_url

Reply = dict[str, Any]

_QIDO_OFFERS = (
    MediaOffer(media_type=DICOM_JSON),
    MediaOffer(media_type="application/json"),
)
_TRUNCATED = (
    '299 dicomlens "The number of results exceeded the maximum supported by the server.'
    ' Additional results can be requested."'
)
_NOT_QUERY_KEYS = frozenset({"accept", "charset"})
ANSWERS_PREFIX = "dicomweb-answers/"  # large retrieve answers, expired by the bucket lifecycle
ANSWER_URL_EXPIRY_S = 600


@dataclass(frozen=True, kw_only=True)
class Target:
    """What the path names: a study, series or instance, and what follows it."""

    study: str | None = None
    series: str | None = None
    sop: str | None = None
    rest: str | None = None  # the frame list, or the bulk data tag path


# --------------------------------------------------------------------------- QIDO-RS


def _search(level: QueryLevel) -> Callable[[DicomWebRequest, Target], Reply]:
    def search(request: DicomWebRequest, target: Target) -> Reply:
        chosen = choose(request.accept(), _QIDO_OFFERS)
        params = [(k, v) for k, v in request.query if k not in _NOT_QUERY_KEYS]
        rows, truncated = bootstrap.get_services().dicomweb.search(
            level,
            params,
            root_url=request.root_url,
            study_uid=target.study,
            series_uid=target.series,
        )
        headers = {"Warning": _TRUNCATED} if truncated else None
        return json_reply(
            200,
            rows,
            content_type=chosen.offer.media_type,
            headers=headers,
            accept_encoding=request.header("accept-encoding") or "",
        )

    return search


# --------------------------------------------------------------------------- STOW-RS


def store(request: DicomWebRequest, target: Target) -> Reply:
    """Store the instances of a ``multipart/related; type="application/dicom"`` body."""
    content_type = request.header("content-type") or ""
    media = parse_media_type(content_type)
    related = media.params.get("type", DICOM).strip().lower()
    if media.essence != MULTIPART_RELATED or related != DICOM:
        raise DicomlensError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f'STOW-RS here takes {MULTIPART_RELATED}; type="{DICOM}"',
        )
    parts = decode_multipart(request.body, content_type)
    answer = bootstrap.get_services().stow.store(
        parts, study_uid=target.study, root_url=request.root_url
    )
    return json_reply(answer.status, answer.body)


# --------------------------------------------------------------------------- WADO-RS


def retrieve(request: DicomWebRequest, target: Target) -> Reply:
    """The instances in scope as ``multipart/related; type="application/dicom"``."""
    service = bootstrap.get_services().dicomweb
    assert target.study is not None  # noqa: S101 - the route table guarantees it
    instances = service.instances(target.study, target.series, target.sop)
    stored = sorted({i.transfer_syntax_uid for i in instances})
    as_stored = MediaOffer(
        media_type=MULTIPART_RELATED, part_type=DICOM, transfer_syntax="*", default=False
    )
    offers = [as_stored]
    for syntax in stored:
        offers += [o for o in instance_offers(syntax) if o not in offers]
    chosen = choose(request.accept(), offers)
    limits = bootstrap.get_services().settings.imaging_limits()
    max_bytes = bootstrap.get_services().settings.dicomweb_max_retrieve_bytes
    parts, total = [], 0
    for instance in instances:
        syntax = wanted_syntax(chosen.transfer_syntax, instance.transfer_syntax_uid)
        with service.instance_file(instance) as path:
            data = instance_bytes(
                path,
                stored_syntax=instance.transfer_syntax_uid,
                transfer_syntax=syntax,
                limits=limits,
            )
        total += len(data)
        if total > max_bytes:
            raise DicomlensError(
                ErrorCode.TOO_LARGE,
                f"the answer would exceed {max_bytes} bytes: retrieve the series or instances"
                " one at a time, or their frames",
            )
        parts.append(
            Part(
                content_type=f"{DICOM}; transfer-syntax={syntax}",
                data=data,
                headers=(("Content-Location", instance_url(request.root_url, instance)),),
            )
        )
    body, content_type = encode_multipart(parts, related_type=DICOM)
    return _answer(body, content_type)


def metadata(request: DicomWebRequest, target: Target) -> Reply:
    """The DICOM JSON of every instance in scope, bulk data as BulkDataURIs."""
    chosen = choose(request.accept(), _QIDO_OFFERS)
    assert target.study is not None  # noqa: S101 - the route table guarantees it
    document = bootstrap.get_services().dicomweb.metadata_json(
        target.study, target.series, target.sop, root_url=request.root_url
    )
    return text_reply(
        200,
        document.decode("utf-8"),
        chosen.offer.media_type,
        accept_encoding=request.header("accept-encoding") or "",
    )


def frames(request: DicomWebRequest, target: Target) -> Reply:
    """Frames as ``multipart/related; type="application/octet-stream"`` (or the stored
    codec's media type), stored or decoded as the Accept asks."""
    service = bootstrap.get_services().dicomweb
    instance = _one(request, target)
    numbers = parse_frame_list(target.rest or "")
    chosen = choose(request.accept(), frame_offers(instance.transfer_syntax_uid))
    settings = bootstrap.get_services().settings
    max_bytes = settings.dicomweb_max_retrieve_bytes
    layout = service.frame_layout(instance)
    answer = None
    if layout is not None:  # kept at processing: read the frames' bytes only
        answer = service.stored_frames(
            instance, layout, numbers, transfer_syntax=chosen.transfer_syntax, max_bytes=max_bytes
        )
    if answer is None:
        with service.instance_file(instance) as path:
            answer = read_frames(
                path,
                numbers,
                transfer_syntax=chosen.transfer_syntax,
                limits=settings.imaging_limits(),
                max_bytes=max_bytes,
                layout=layout,
            )
    if answer.transfer_syntax == chosen.transfer_syntax:
        part_type, part_content_type = chosen.offer.part_type, chosen.offer.part_content_type()
    else:
        part_type = OCTET_STREAM
        part_content_type = f"{OCTET_STREAM}; transfer-syntax={answer.transfer_syntax}"
    url = instance_url(request.root_url, instance)
    parts = [
        Part(
            content_type=part_content_type,
            data=frame.data,
            headers=(("Content-Location", f"{url}/frames/{frame.number}"),),
        )
        for frame in answer.frames
    ]
    body, content_type = encode_multipart(
        parts,
        related_type=part_type or OCTET_STREAM,
        params={"transfer-syntax": answer.transfer_syntax},
    )
    return _answer(body, content_type)


def bulk(request: DicomWebRequest, target: Target) -> Reply:
    """One element's value (a BulkDataURI of the metadata) as an octet-stream part."""
    service = bootstrap.get_services().dicomweb
    instance = _one(request, target)
    choose(request.accept(), [MediaOffer(media_type=MULTIPART_RELATED, part_type=OCTET_STREAM)])
    settings = bootstrap.get_services().settings
    with service.instance_file(instance) as path:
        data = read_bulk(
            path,
            target.rest or "",
            limits=settings.imaging_limits(),
            max_bytes=settings.dicomweb_max_retrieve_bytes,
        )
    body, content_type = encode_multipart(
        [Part(content_type=OCTET_STREAM, data=data)], related_type=OCTET_STREAM
    )
    return _answer(body, content_type)


def rendered(request: DicomWebRequest, target: Target) -> Reply:
    """One frame (the first, or the one the path names) windowed and encoded as the
    Accept asks (JPEG by default), with ``window``/``viewport``/``quality``."""
    service = bootstrap.get_services().dicomweb
    instance = _one(request, target)
    numbers = parse_frame_list(target.rest) if target.rest else (1,)
    if len(numbers) != 1:
        raise DicomlensError(ErrorCode.VALIDATION_ERROR, "rendered frames: one frame at a time")
    chosen = choose(request.accept(), rendered_offers())
    params = parse_render_params(_query_dict(request))
    if numbers == (1,) and is_default(params) and chosen.offer.media_type == JPEG:
        kept = service.default_rendition(instance)
        if kept is not None:
            return binary_reply(200, kept, JPEG)
    with service.instance_file(instance) as path:
        data = render_frame(
            path,
            frame=numbers[0],
            params=params,
            media_type=chosen.offer.media_type,
            limits=bootstrap.get_services().settings.imaging_limits(),
        )
    return binary_reply(200, data, chosen.offer.media_type)


def thumbnail_of(request: DicomWebRequest, target: Target) -> Reply:
    """A small picture of the instance, or of the middle instance of a series or study."""
    service = bootstrap.get_services().dicomweb
    assert target.study is not None  # noqa: S101 - the route table guarantees it
    instances = service.instances(target.study, target.series, target.sop)
    chosen = choose(request.accept(), rendered_offers())
    viewport_value = request.first("viewport")
    viewport = parse_viewport(viewport_value) if viewport_value is not None else None
    ordered = sorted(instances, key=lambda i: (i.series_uid, i.instance_number or 0, i.sop_uid))
    instance = ordered[len(ordered) // 2]
    with service.instance_file(instance) as path:
        data = thumbnail(
            path,
            media_type=chosen.offer.media_type,
            limits=bootstrap.get_services().settings.imaging_limits(),
            viewport=viewport,
        )
    return binary_reply(200, data, chosen.offer.media_type)


def analysis(request: DicomWebRequest, target: Target) -> Reply:
    """303 to the instance's processing job (``GET /jobs/{jobId}``: preview, labels,
    findings)."""
    job_id = bootstrap.get_services().dicomweb.job_of(*_instance_uids(target))
    return redirect_reply(f"{request.api_root_url}/jobs/{job_id}")


def _answer(body: bytes, content_type: str) -> Reply:
    """The multipart answer itself, or, when it is larger than a reply may be (Lambda's
    6 MB), a 303 to a short-lived URL of the same body stored under ``dicomweb-answers/``
    (private, expired by the bucket's lifecycle) with its Content-Type: HTTP clients follow
    a 303 to GET the answer."""
    services = bootstrap.get_services()
    if len(body) <= services.settings.dicomweb_max_response_bytes:
        return binary_reply(200, body, content_type)
    key = f"{ANSWERS_PREFIX}{uuid.uuid4().hex}.multipart"
    services.blobs.put_bytes(key, body, content_type=content_type)
    return redirect_reply(services.blobs.presign_get(key, expires_in_s=ANSWER_URL_EXPIRY_S))


def _one(request: DicomWebRequest, target: Target) -> IndexedInstance:
    del request
    (instance,) = bootstrap.get_services().dicomweb.instances(*_instance_uids(target))
    return instance


def _instance_uids(target: Target) -> tuple[str, str, str]:
    if target.study is None or target.series is None or target.sop is None:
        raise DicomlensError(ErrorCode.NOT_FOUND, "no such instance")
    return target.study, target.series, target.sop


def _query_dict(request: DicomWebRequest) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in request.query:
        found.setdefault(key, value)
    return found


# --------------------------------------------------------------------------- routing

Action = Callable[[DicomWebRequest, Target], Reply]
_S, _SE, _I = ("studies", "*"), ("series", "*"), ("instances", "*")
_ROUTES: tuple[tuple[str, tuple[str, ...], str, Action], ...] = (
    ("GET", ("studies",), "qido.studies", _search(QueryLevel.STUDY)),
    ("POST", ("studies",), "stow", store),
    ("GET", ("series",), "qido.series", _search(QueryLevel.SERIES)),
    ("GET", ("instances",), "qido.instances", _search(QueryLevel.INSTANCE)),
    ("GET", _S, "wado.study", retrieve),
    ("POST", _S, "stow", store),
    ("GET", (*_S, "metadata"), "wado.metadata", metadata),
    ("GET", (*_S, "series"), "qido.series", _search(QueryLevel.SERIES)),
    ("GET", (*_S, "instances"), "qido.instances", _search(QueryLevel.INSTANCE)),
    ("GET", (*_S, "thumbnail"), "wado.thumbnail", thumbnail_of),
    ("GET", (*_S, *_SE), "wado.series", retrieve),
    ("GET", (*_S, *_SE, "metadata"), "wado.metadata", metadata),
    ("GET", (*_S, *_SE, "instances"), "qido.instances", _search(QueryLevel.INSTANCE)),
    ("GET", (*_S, *_SE, "thumbnail"), "wado.thumbnail", thumbnail_of),
    ("GET", (*_S, *_SE, *_I), "wado.instance", retrieve),
    ("GET", (*_S, *_SE, *_I, "metadata"), "wado.metadata", metadata),
    ("GET", (*_S, *_SE, *_I, "rendered"), "wado.rendered", rendered),
    ("GET", (*_S, *_SE, *_I, "thumbnail"), "wado.thumbnail", thumbnail_of),
    ("GET", (*_S, *_SE, *_I, "analysis"), "analysis", analysis),
    ("GET", (*_S, *_SE, *_I, "frames", "*"), "wado.frames", frames),
    ("GET", (*_S, *_SE, *_I, "frames", "*", "rendered"), "wado.rendered", rendered),
    ("GET", (*_S, *_SE, *_I, "bulk", "**"), "wado.bulk", bulk),
)


def _match(pattern: tuple[str, ...], segments: tuple[str, ...]) -> Target | None:
    if pattern and pattern[-1] == "**":
        if len(segments) < len(pattern):
            return None
        head, tail = pattern[:-1], "/".join(segments[len(pattern) - 1 :])
        segments = (*segments[: len(pattern) - 1], tail)
        pattern = (*head, "*")
    if len(pattern) != len(segments):
        return None
    values: list[str] = []
    for want, got in zip(pattern, segments, strict=True):
        if want == "*":
            if not got:
                return None
            values.append(unquote(got))
        elif want != got:
            return None
    named = dict(zip(("study", "series", "sop"), values[:3], strict=False))
    return Target(rest=values[3] if len(values) > 3 else None, **named)


def route(request: DicomWebRequest) -> tuple[str, Reply]:
    """The route's name and its reply for ``request``."""
    allowed = []
    for method, pattern, name, action in _ROUTES:
        target = _match(pattern, request.segments)
        if target is None:
            continue
        if method != request.method and not (method == "GET" and request.method == "HEAD"):
            allowed.append(method)
            continue
        reply = action(request, target)
        if request.method == "HEAD":
            reply = {**reply, "body": "", "isBase64Encoded": False}
        return name, reply
    if allowed:
        reply = error_reply(405, ErrorCode.VALIDATION_ERROR, "the method is not allowed here")
        reply["headers"]["Allow"] = ", ".join(sorted(set(allowed)))
        return "method-not-allowed", reply
    return "no-route", error_reply(404, ErrorCode.NOT_FOUND, "no such DICOMweb resource")


def respond(event: dict[str, Any]) -> Reply:
    """The reply to one HTTP API (payload 2.0) event; never raises.

    Logs one line (debug level; info for a refusal): the route's name, the status and the
    milliseconds taken (no path, no query, no UID, no value: DICOMweb carries patient data).
    """
    started = time.perf_counter()
    name = "unknown"
    try:
        if not bootstrap.get_services().settings.serves_dicomweb():
            raise DicomlensError(ErrorCode.NOT_FOUND, "DICOMweb is not enabled here")
        request = read_request(event)
        name, reply = route(request)
    except DicomlensError as exc:
        status = status_for(exc.code)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            logger.error("dicomweb request failed", extra={"errorCode": str(exc.code)})
            reply = error_reply(status, ErrorCode.INTERNAL, "internal error")
        else:
            reply = error_reply(status, exc.code, exc.message)
    except Exception as exc:
        logger.error("dicomweb unexpected error", extra={"exceptionType": type(exc).__name__})
        reply = error_reply(500, ErrorCode.INTERNAL, "internal error")
    log = logger.info if reply["statusCode"] >= HTTPStatus.BAD_REQUEST else logger.debug
    log(
        "dicomweb",
        extra={
            "route": name,
            "status": reply["statusCode"],
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return reply


@tracer.capture_lambda_handler(capture_response=False)  # no PHI in X-Ray
def handler(event: dict[str, Any], context: LambdaContext) -> Reply:
    """The Lambda entry point (also run on the local server's thread pool)."""
    # the one route of this function outside /dicomweb
    if event.get("routeKey") == report.ROUTE_KEY:
        return report.handle(event, context)
    return respond(event)


handler.thread_safe = True  # read by the local server

bootstrap.build_during_lambda_init(__name__, build=("dicomweb",))
