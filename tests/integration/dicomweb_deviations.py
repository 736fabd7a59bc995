"""Where a server may depart from PS3.18 or from Orthanc, each with the section that decides.

``ORTHANC_DEVIATIONS``: findings of the conformance suite that Orthanc 1.10 + DICOMweb
plugin 1.7 is known to produce (seen here, 2026-12); the standard says Orthanc is wrong.
``JPEG2000_SERIES`` is the only series whose retrieval Orthanc may fail (500).
``ALLOWED_DIFFERENCES``: fields where our answers may differ from Orthanc's, because the
standard leaves a choice or Orthanc is wrong. Keys are finding checks or ``field:TAG``;
values name the PS3.18 (or PS3.4/PS3.5) section and who is right.
"""

from __future__ import annotations

JPEG2000_SERIES = "1.2.826.0.1.3680043.8.498.77.2.2.4"
_PERCENT = (
    "PS3.18 8.3.4 (query parameters are URI query components, RFC 3986 2.1 percent-"
    "encoding): dicomweb-client sends '*' and '?' as %2A/%3F; Orthanc does not decode them"
    " in matching values and then matches literally. Orthanc is wrong."
)
_UTF8_WILDCARD = (
    "PS3.4 C.2.2.2.4: '?' matches one character; Orthanc finds nothing for M?ller* against"
    " Müller (UTF-8, ISO_IR 192), even unencoded. Orthanc is wrong."
)

ORTHANC_DEVIATIONS: dict[str, str] = {
    "qido.studies.pn-star": _PERCENT,
    "qido.studies.lo-star": _PERCENT,
    "qido.studies.sh-question": _PERCENT,
    "qido.studies.fuzzymatching": _PERCENT,
    "qido.series.description-star": _PERCENT,
    "qido.studies.pn-question-non-ascii": f"{_PERCENT} {_UTF8_WILDCARD}",
    "qido.studies.includefield-all.field": (
        "PS3.18 8.3.4.3: includefield=all returns all available attributes of the level;"
        " Orthanc ignores 'all' (StudyDescription missing). Orthanc is wrong."
    ),
    "metadata.pixel-bulkdata": (
        "PS3.18 10.4.1.1.2 / F.2.7: bulk data (Pixel Data) appears in metadata as a"
        " BulkDataURI; Orthanc omits Pixel Data of compressed instances. Orthanc is wrong."
    ),
    "rendered.image/jpeg": (
        "PS3.18 8.3.5.1 (rendered: VOI from the instance when no window parameter) and"
        " PS3.3 C.11.2: Orthanc stretches min..max instead of the file's first window."
        " Orthanc is wrong."
    ),
    "rendered.image/png": "as rendered.image/jpeg",
    "thumbnail": "PS3.18 10.4.1.1.5 (/thumbnail resources): Orthanc 1.7 has none (404).",
    "wado.series.default-syntax": (
        "PS3.18 10.4 / PS3.5 6.2: retrieving in the default Explicit VR Little Endian keeps"
        " every value; Orthanc's transcode of the implicit-VR RT Dose turns Dose Grid"
        " Scaling (DS) 1.0000000e-6 into 1.0. Orthanc is wrong."
    ),
    "wado.retrieve": (
        "PS3.18 8.7.3.5.2: without transfer-syntax=* a study is retrieved in Explicit VR"
        " Little Endian; Orthanc without its GDCM plugin cannot decode JPEG 2000 and answers"
        " 500 for the study holding one (the GDCM plugin crashed Orthanc: see dicomweb_peer)."
    ),
    "wado.frames": (
        "PS3.18 8.7.3.5.2 / 10.4.1.1.3: frames in Explicit VR Little Endian need JPEG 2000"
        " decoding; Orthanc without GDCM answers 500."
    ),
    "negotiation.accept.metadata": (
        "PS3.18 8.7.5 / RFC 9110 15.5.7: no acceptable media type -> 406; Orthanc 400."
    ),
    "negotiation.accept.study": "as negotiation.accept.metadata",
    "negotiation.accept.frames-syntax": "as negotiation.accept.metadata",
    "negotiation.accept.frames-syntax.crashed": (
        "PS3.18 8.7.3.5 / 8.7.5: a frames request for a transfer syntax the server does"
        " not support gets 406; Orthanc 1.10 + GDCM plugin 1.5 dies with SIGSEGV on"
        " transfer-syntax=1.2.3.4.5.6. Orthanc is wrong (and this check runs last)."
    ),
    "negotiation.accept.qido": (
        "PS3.18 8.7.5: QIDO with only unsupported Accept types -> 406; Orthanc answers 200"
        " with DICOM JSON anyway."
    ),
}

# Differences ours vs Orthanc in QIDO results / metadata that are not errors on our side.
ALLOWED_DIFFERENCES: dict[str, str] = {
    "field:00081190": (
        "PS3.18 10.6.3.3 Retrieve URL: an absolute URL of each server's own root; differs"
        " by construction."
    ),
    "field:00080005": (
        "PS3.18 F.2: DICOM JSON is UTF-8; servers may drop or rewrite Specific Character Set"
        " (Orthanc keeps the file's value, e.g. ISO_IR 100)."
    ),
    "field:00080056": "PS3.18 10.6.3.3 Instance Availability: each server's own state.",
    "field:00080201": (
        "PS3.18 Table 10.6.3-3 Timezone Offset From UTC: returned if known; Orthanc fills"
        " it from the file, optional."
    ),
    "field:7FE00010": ORTHANC_DEVIATIONS["metadata.pixel-bulkdata"],
    "field:00081030": ORTHANC_DEVIATIONS["qido.studies.includefield-all.field"],
    "field:00080062": (
        "PS3.18 8.3.4.3: includefield=all returns all available study attributes, SOP"
        " Classes in Study (PS3.4 Table C.6-5) among them; Orthanc ignores 'all'."
    ),
    "field:00400275": (
        "PS3.18 Table 10.6.3-4: Request Attributes Sequence is a series return attribute,"
        " returned with a series (also in an /instances answer without the series in the"
        " path, 10.6.3.3.3); Orthanc leaves it out."
    ),
}

_HIGHER_LEVEL = (
    "PS3.18 10.6.3.3 (Tables 10.6.3-4 and -5): the study's (and series') attributes are"
    " returned when the path does not name the study (series); with it named they are"
    " optional. Orthanc adds them anyway; both conform."
)
_ORDER = (
    "PS3.18 8.3.4.4: limit/offset page through the results, whose order the standard"
    " leaves to the server; the pages hold different studies, every study once."
)

# Differences allowed for one query's results (by its check name), any field.
QUERY_ALLOWED_DIFFERENCES: dict[str, str] = {
    "qido.series.of-study": _HIGHER_LEVEL,
    "qido.instances.of-series": _HIGHER_LEVEL,
    "qido.instances.instance-number": _HIGHER_LEVEL,
    "qido.studies.limit-offset-0": _ORDER,
    "qido.studies.limit-offset-4": _ORDER,
    "qido.studies.limit-offset-8": _ORDER,
    **{
        check: deviation
        for check, deviation in ORTHANC_DEVIATIONS.items()
        if check.startswith("qido.") and not check.endswith(".field")
    },
}
