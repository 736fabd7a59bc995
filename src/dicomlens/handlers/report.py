"""``POST /jobs/{jobId}/report``: the job's analysis report as DICOM (a Comprehensive 3D SR).

``?source=original`` (the default) stores the report in the upload's study, indexed for
DICOMweb, and answers its UIDs and WADO-RS URL; ``?source=deidentified`` makes the report
of the job's de-identified copy, a short-lived download (see
:mod:`dicomlens.services.reports`). Served by the DICOMweb function (its role holds the
index and the instances): :func:`dicomlens.handlers.dicomweb.handler` hands this route's
events here, and the route answers 404 where DICOMweb is off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from dicomlens import bootstrap
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.handlers.dicomweb_http import ROOT_SEGMENT, origin_of
from dicomlens.handlers.models import ReportResponse
from dicomlens.handlers.observability import count, logger
from dicomlens.handlers.openapi import error_responses, json_response
from dicomlens.handlers.resolver import api_resolver

if TYPE_CHECKING:
    from dicomlens.services.reports import WrittenReport

ROUTE_KEY = "POST /jobs/{jobId}/report"

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/jobs/<jobId>/report",
    summary="Export a job's findings and labels as a DICOM SR",
    responses={
        **json_response(201, ReportResponse, "the report, stored (or rewritten)"),
        # 404 also when DICOMweb is off; 409 CONFLICT before the job completed (or, for
        # source=deidentified, before it was de-identified); 422 NOT_AN_IMAGE for a PNG,
        # a JPEG or a DICOM file without pixels, INVALID_DICOM without its UIDs.
        **error_responses(400, 401, 404, 409, 422, 503),
    },
)
def report(
    jobId: Annotated[str, Path(max_length=200, description="the id POST /uploads returned")],  # noqa: N803 - the API's name
    source: Annotated[
        Literal["original", "deidentified"],
        Query(description="report on the upload (original) or its de-identified copy"),
    ] = "original",
) -> Response[ReportResponse]:
    """TID 1500 Measurement Report: finding boxes as image regions, labels as qualitative
    evaluations; never the text read from the pixels."""
    from dicomlens.services.reports import ReportSource  # noqa: PLC0415 - highdicom, here only

    services = bootstrap.get_services()
    if not services.settings.serves_dicomweb():
        raise DicomlensError(ErrorCode.NOT_FOUND, "analysis reports need DICOMweb, off here")
    written = services.reports.write(jobId, source=ReportSource(source))
    count("ReportsWritten")
    body = ReportResponse(
        job_id=written.job_id,
        source=written.source.value,
        study_instance_uid=written.study_uid,
        series_instance_uid=written.series_uid,
        sop_instance_uid=written.sop_uid,
        regions=written.regions,
        wado_url=_wado_url(router.current_event.raw_event, written) if written.indexed else None,
        url=written.url,
        expires_at=written.expires_at,
    )
    return Response(
        status_code=201,
        content_type="application/json",
        body=body,
        headers={"Cache-Control": "no-store"},
    )


def _wado_url(event: dict[str, Any], written: WrittenReport) -> str:
    """The report's WADO-RS URL under the DICOMweb root of the API the request came to
    (the stage prefix kept: the route's path is cut off the raw path)."""
    raw_path = str(event.get("rawPath") or "")
    api_path = raw_path[: raw_path.rfind("/jobs/")] if "/jobs/" in raw_path else ""
    return (
        f"{origin_of(event)}{api_path}{ROOT_SEGMENT}/studies/{written.study_uid}"
        f"/series/{written.series_uid}/instances/{written.sop_uid}"
    )


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """This route's reply to one HTTP API event (a resolver per call: the DICOMweb
    function runs on a thread pool locally, and the resolver keeps per-call state)."""
    logger.debug("report request")
    return api_resolver(router).resolve(event, context)
