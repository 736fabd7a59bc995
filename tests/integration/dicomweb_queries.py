"""The QIDO-RS queries of the conformance suite, each with the answer the files give.

A query's expected answer is computed from the corpus's data sets by a plain predicate
written for that query (never by a general matcher that could share a server's bugs).
Matching rules are PS3.4 C.2.2.2 (single value, UID list, wildcard, range) as PS3.18 10.6.1
adopts them; every value is chosen so that case-sensitive and case-insensitive PN matching
(both allowed, PS3.4 C.2.2.2.1) give the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from corpus.dicomweb import STUDY_A, STUDY_B, STUDY_C, DicomwebCorpus, study_uid

UID_TAG = {"studies": "0020000D", "series": "0020000E", "instances": "00080018"}
KEYWORD = {"studies": "StudyInstanceUID", "series": "SeriesInstanceUID", "instances": None}

Predicate = Callable[[list[Dataset]], bool]


@dataclass(frozen=True, kw_only=True)
class QidoQuery:
    """One search: where (level and scope), with what, and which entities must answer.

    ``level`` is ``studies``, ``series`` or ``instances``; ``study``/``series`` scope it
    (``/studies/{study}/series/...``). ``matches`` receives all instances of one entity at
    that level (a study's, a series', or a one-instance list) and says if it must be found.
    """

    name: str
    level: str
    matches: Predicate
    filters: dict[str, Any] = field(default_factory=dict)
    fields: Sequence[str] = ()
    fuzzy: bool | None = None
    limit: int | None = None
    offset: int | None = None
    study: str | None = None
    series: str | None = None
    superset_ok: bool = False  # fuzzy matching may find more than literal matching

    def entities(self, corpus: DicomwebCorpus) -> dict[str, list[Dataset]]:
        """The corpus's entities at this level within the query's scope, by UID."""
        scoped = [
            ds
            for ds in corpus.datasets
            if (self.study is None or ds.StudyInstanceUID == self.study)
            and (self.series is None or ds.SeriesInstanceUID == self.series)
        ]
        if self.level == "instances":
            return {str(ds.SOPInstanceUID): [ds] for ds in scoped}
        keyword = KEYWORD[self.level]
        assert keyword is not None
        groups: dict[str, list[Dataset]] = {}
        for ds in scoped:
            groups.setdefault(str(ds[keyword].value), []).append(ds)
        return groups

    def expected(self, corpus: DicomwebCorpus) -> set[str]:
        """The UIDs the files say this query must return (before limit/offset)."""
        return {uid for uid, group in self.entities(corpus).items() if self.matches(group)}


def _first(keyword: str) -> Callable[[list[Dataset]], str]:
    return lambda group: str(group[0].get(keyword, "") or "")


def _time(group: list[Dataset]) -> str:
    return str(group[0].get("StudyTime", "") or "")[:6]


def series_uid_of(corpus: DicomwebCorpus, description: str) -> str:
    """The Series Instance UID of the generated series with this description."""
    for ds in corpus.datasets:
        if ds.get("SeriesDescription") == description:
            return str(ds.SeriesInstanceUID)
    raise KeyError(description)


def queries(corpus: DicomwebCorpus) -> list[QidoQuery]:
    """Every QIDO query of the suite, one or more per matching rule."""
    name = _first("PatientName")
    a, b, c = study_uid(STUDY_A), study_uid(STUDY_B), study_uid(STUDY_C)
    ct_a = series_uid_of(corpus, "CHEST 5mm")
    return [
        QidoQuery(name="studies.all", level="studies", matches=lambda g: True),
        QidoQuery(
            name="studies.patient-id",
            level="studies",
            filters={"PatientID": "DLW-0001"},
            matches=lambda g: _first("PatientID")(g) == "DLW-0001",
        ),
        QidoQuery(
            name="studies.uid-list",
            level="studies",
            # One comma-separated value (PS3.18 8.3.4.1 UID list): dicomweb-client would send a
            # Python list as repeated keys, which servers may read as "last one wins".
            filters={"StudyInstanceUID": f"{a},{c}"},
            matches=lambda g: g[0].StudyInstanceUID in (a, c),
        ),
        QidoQuery(
            name="studies.pn-star",
            level="studies",
            filters={"PatientName": "Quinn*"},
            matches=lambda g: name(g).startswith("Quinn"),
        ),
        QidoQuery(
            name="studies.pn-question-non-ascii",
            level="studies",
            filters={"PatientName": "M?ller*"},
            matches=lambda g: len(name(g)) >= 6 and name(g)[0] == "M" and name(g)[2:6] == "ller",
        ),
        QidoQuery(
            name="studies.lo-star",
            level="studies",
            filters={"StudyDescription": "*CHEST*"},
            matches=lambda g: "CHEST" in _first("StudyDescription")(g),
        ),
        QidoQuery(
            name="studies.sh-question",
            level="studies",
            filters={"AccessionNumber": "ACC2404020?"},
            matches=lambda g: (
                len(acc := _first("AccessionNumber")(g)) == 11 and acc.startswith("ACC2404020")
            ),
        ),
        QidoQuery(
            name="studies.date-range",
            level="studies",
            filters={"StudyDate": "20240301-20240331"},
            matches=lambda g: "20240301" <= _first("StudyDate")(g) <= "20240331",
        ),
        QidoQuery(
            name="studies.date-open-start",
            level="studies",
            filters={"StudyDate": "-20231231"},
            matches=lambda g: "" < _first("StudyDate")(g) <= "20231231",
        ),
        QidoQuery(
            name="studies.date-open-end",
            level="studies",
            filters={"StudyDate": "20240101-"},
            matches=lambda g: _first("StudyDate")(g) >= "20240101",
        ),
        QidoQuery(
            name="studies.time-range",
            level="studies",
            filters={"StudyTime": "100000-120000"},
            matches=lambda g: "100000" <= _time(g) <= "120000",
        ),
        QidoQuery(
            name="studies.modalities-in-study",
            level="studies",
            filters={"ModalitiesInStudy": "MR"},
            matches=lambda g: any(ds.get("Modality") == "MR" for ds in g),
        ),
        QidoQuery(
            name="studies.fuzzymatching",
            level="studies",
            filters={"PatientName": "Quinn*"},
            fuzzy=True,
            superset_ok=True,
            matches=lambda g: name(g).startswith("Quinn"),
        ),
        QidoQuery(
            name="studies.includefield-tag",
            level="studies",
            fields=("00081030",),
            filters={"PatientID": "DLW-0001"},
            matches=lambda g: _first("PatientID")(g) == "DLW-0001",
        ),
        QidoQuery(
            name="studies.includefield-all",
            level="studies",
            fields=("all",),
            filters={"StudyInstanceUID": b},
            matches=lambda g: g[0].StudyInstanceUID == b,
        ),
        QidoQuery(
            name="studies.limit-offset-0",
            level="studies",
            limit=4,
            offset=0,
            matches=lambda g: True,
        ),
        QidoQuery(
            name="studies.limit-offset-4",
            level="studies",
            limit=4,
            offset=4,
            matches=lambda g: True,
        ),
        QidoQuery(
            name="studies.limit-offset-8",
            level="studies",
            limit=4,
            offset=8,
            matches=lambda g: True,
        ),
        QidoQuery(
            name="series.modality",
            level="series",
            filters={"Modality": "CT"},
            matches=lambda g: g[0].Modality == "CT",
        ),
        QidoQuery(
            name="series.of-study",
            level="series",
            study=a,
            matches=lambda g: True,
        ),
        QidoQuery(
            name="series.description-star",
            level="series",
            filters={"SeriesDescription": "*J2K"},
            matches=lambda g: str(g[0].get("SeriesDescription", "")).endswith("J2K"),
        ),
        QidoQuery(
            name="instances.of-series",
            level="instances",
            study=a,
            series=ct_a,
            matches=lambda g: True,
        ),
        QidoQuery(
            name="instances.instance-number",
            level="instances",
            study=a,
            series=ct_a,
            filters={"InstanceNumber": "5"},
            matches=lambda g: g[0].InstanceNumber == 5,
        ),
        QidoQuery(
            name="instances.sop-class",
            level="instances",
            filters={"SOPClassUID": "1.2.840.10008.5.1.4.1.1.4"},
            matches=lambda g: g[0].SOPClassUID == "1.2.840.10008.5.1.4.1.1.4",
        ),
    ]
