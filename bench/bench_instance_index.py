"""SqliteInstanceIndex.candidates() timing over 1000 studies x 20 instances (2 series each).

Run: ``PYTHONPATH=src python bench/bench_instance_index.py``. Prints the time of the 20,000
puts and, per query, the rows, best and median milliseconds, and the median per 100 rows.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dicomlens.adapters.local.sqlite_index import SqliteInstanceIndex
from dicomlens.dicomweb.model import AttributeFilter, IndexedInstance, QidoQuery, QueryLevel

STUDIES, PER_STUDY = 1000, 20


def element(vr: str, value: object) -> dict[str, object]:
    return {"vr": vr, "Value": [value]}


def instance(number: int, study: int, n: int) -> IndexedInstance:
    study_uid = f"1.2.826.0.1.{study}"
    series_uid = f"{study_uid}.{n % 2}"
    sop_uid = f"{series_uid}.{n}"
    return IndexedInstance(
        study_uid=study_uid,
        series_uid=series_uid,
        sop_uid=sop_uid,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        instance_number=n,
        frame_count=1,
        size=1,
        blob_key=f"uploads/{sop_uid}",
        blob_version=None,
        metadata_key=f"metadata/{sop_uid}",
        job_id=None,
        stored_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=number),
        study={
            "0020000D": element("UI", study_uid),
            "00100010": element("PN", {"Alphabetic": "Doe^Jane"}),
            "00100020": element("LO", f"P{study % 300}"),
            "00100030": element("DA", "19700101"),
            "00100040": element("CS", "F"),
            "00080020": element("DA", f"2024{1 + study % 12:02d}15"),
            "00080030": element("TM", "101010"),
            "00080050": element("SH", f"A{study}"),
            "00080090": element("PN", {"Alphabetic": "Ref^Doc"}),
            "00081030": element("LO", "Chest CT with contrast"),
            "00200010": element("SH", "1"),
        },
        series={
            "0020000E": element("UI", series_uid),
            "00080060": element("CS", "CT" if n % 2 == 0 else "MR"),
            "00200011": element("IS", n % 2 + 1),
        },
        instance={"00080018": element("UI", sop_uid), "00200013": element("IS", n)},
    )


def timed(index: SqliteInstanceIndex, query: QidoQuery, reps: int = 20) -> tuple[float, float, int]:
    times, found = [], 0
    for _ in range(reps):
        start = time.perf_counter()
        found = len(list(index.candidates(query)))
        times.append((time.perf_counter() - start) * 1000)
    return min(times), sorted(times)[reps // 2], found


def main() -> None:
    index = SqliteInstanceIndex(Path(tempfile.mkdtemp()) / "index.sqlite3")
    start = time.perf_counter()
    for study in range(STUDIES):
        for n in range(PER_STUDY):
            index.put(instance(study * PER_STUDY + n, study, n))
    print(f"{STUDIES * PER_STUDY} puts: {time.perf_counter() - start:.1f} s")
    one = "1.2.826.0.1.500"
    queries = {
        "all studies": QidoQuery(level=QueryLevel.STUDY),
        "StudyDate range": QidoQuery(
            level=QueryLevel.STUDY,
            filters=(AttributeFilter(tag="00080020", vr="DA", value="20240301-20240430"),),
        ),
        "PatientID": QidoQuery(
            level=QueryLevel.STUDY,
            filters=(AttributeFilter(tag="00100020", vr="LO", value="P7"),),
        ),
        "series of one study": QidoQuery(level=QueryLevel.SERIES, study_uid=one),
        "instances of one study": QidoQuery(level=QueryLevel.INSTANCE, study_uid=one),
    }
    for name, query in queries.items():
        best, median, rows = timed(index, query)
        per_100 = median / max(rows, 1) * 100
        print(
            f"{name}: {rows} rows, best {best:.2f} ms, median {median:.2f} ms, "
            f"{per_100:.2f} ms per 100 rows"
        )


if __name__ == "__main__":
    main()
