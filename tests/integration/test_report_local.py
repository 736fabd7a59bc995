"""``POST /jobs/{jobId}/report`` on the real local server: the report of a page upload is
found by QIDO as an SR series of the upload's study, and WADO-RS serves its metadata and
its bytes; a repeat rewrites the same instance."""

from __future__ import annotations

from pathlib import Path

import local_server
import pytest
import requests
from pydicom import dcmread
from pydicom.data import get_testdata_file

pytestmark = [pytest.mark.dicomweb_server, pytest.mark.timeout(300)]

CT = Path(str(get_testdata_file("CT_small.dcm")))


def _items(document: dict, tag: str = "0040A730") -> list[dict]:
    """Every content item below ``document`` (depth first)."""
    found = []
    for item in document.get(tag, {}).get("Value", []):
        found.append(item)
        found.extend(_items(item))
    return found


def test_a_report_is_searchable_and_retrievable_in_the_uploads_study(tmp_path: Path) -> None:
    source = dcmread(CT)
    study = source.StudyInstanceUID
    with local_server.running(tmp_path / "data") as server, requests.Session() as http:
        url = server.url.rstrip("/")
        # Given a completed page upload
        job = local_server.upload(http, url, "ct.dcm", CT.read_bytes())
        assert local_server.wait_all_finished(url, [job])[job]["status"] == "COMPLETED"
        # When its report is requested, twice
        first = http.post(f"{url}/jobs/{job}/report", timeout=60)
        again = http.post(f"{url}/jobs/{job}/report", timeout=60)
        assert (first.status_code, again.status_code) == (201, 201), first.text
        body = first.json()
        assert body["sopInstanceUid"] == again.json()["sopInstanceUid"]
        assert body["studyInstanceUid"] == study
        # Then QIDO finds one SR series with one instance in the upload's study
        series = http.get(
            f"{url}/dicomweb/studies/{study}/series",
            params={"Modality": "SR"},
            headers={"Accept": "application/dicom+json"},
            timeout=30,
        )
        assert series.status_code == 200, series.text
        (row,) = series.json()
        assert row["0020000E"]["Value"] == [body["seriesInstanceUid"]]
        assert row["00201209"]["Value"] == [1]
        # And WADO-RS serves its metadata: a TID 1500 report with an image region on the CT
        metadata = http.get(f"{body['wadoUrl']}/metadata", timeout=30)
        assert metadata.status_code == 200, metadata.text
        (instance,) = metadata.json()
        assert instance["00080060"]["Value"] == ["SR"]
        assert instance["0040A043"]["Value"][0]["00080100"]["Value"] == ["126000"]
        regions = [i for i in _items(instance) if i.get("0040A040", {}).get("Value") == ["SCOORD"]]
        assert regions
        referenced = regions[0]["0040A730"]["Value"][0]["00081199"]["Value"][0]
        assert referenced["00081155"]["Value"] == [source.SOPInstanceUID]
        # And its bytes
        whole = http.get(
            body["wadoUrl"],
            headers={"Accept": 'multipart/related; type="application/dicom"'},
            timeout=30,
        )
        assert whole.status_code == 200
        assert body["sopInstanceUid"].encode() in whole.content
