"""DICOMweb and the jobs, on the local server: a page upload is indexed when processed, a
STOW instance is processed like a page upload, each instance leads to its job, a second
upload of a SOP Instance UID replaces the first, and nothing of the patient reaches the log.
"""

from __future__ import annotations

from pathlib import Path

import local_server
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.data import get_testdata_file

from dicomlens.dicomweb.multipart import Part, encode_multipart
from dicomlens.dicomweb.rendered import JPEG, RenderParams, parse_window, render_frame
from dicomlens.imaging.limits import ImagingLimits

pytestmark = [pytest.mark.dicomweb_server, pytest.mark.timeout(300)]

CT = Path(str(get_testdata_file("CT_small.dcm")))
MR = Path(str(get_testdata_file("MR_small.dcm")))


def _stow(root: str, *datasets: bytes) -> requests.Response:
    body, content_type = encode_multipart(
        [Part(content_type="application/dicom", data=data) for data in datasets],
        related_type="application/dicom",
    )
    return requests.post(
        f"{root}/studies",
        data=body,
        headers={"Content-Type": content_type, "Accept": "application/dicom+json"},
        timeout=60,
    )


def test_page_uploads_and_stow_instances_meet_in_the_index(tmp_path: Path) -> None:
    with local_server.running(tmp_path / "data") as server, requests.Session() as http:
        url = server.url.rstrip("/")
        root = f"{url}/dicomweb"
        # Given a CT uploaded through the page, and an MR stored through STOW
        page_job = local_server.upload(http, url, "ct.dcm", CT.read_bytes())
        stored = _stow(root, MR.read_bytes())
        assert stored.status_code == 200, stored.text
        # When both jobs finish
        views = local_server.wait_all_finished(url, [page_job])
        assert views[page_job]["status"] == "COMPLETED"
        client = DICOMwebClient(root)
        # Then both are found by QIDO, the page upload once processed
        ct, mr = pydicom.dcmread(CT), pydicom.dcmread(MR)
        for ds in (ct, mr):
            found = client.search_for_instances(
                search_filters={"SOPInstanceUID": str(ds.SOPInstanceUID)}
            )
            assert len(found) == 1, ds.Modality
        # And each instance leads to its job, whose analysis (preview, labels) is done
        for ds in (ct, mr):
            analysis = (
                f"{root}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                f"/instances/{ds.SOPInstanceUID}/analysis"
            )
            redirect = http.get(analysis, allow_redirects=False, timeout=30)
            assert redirect.status_code == 303
            job_id = redirect.headers["Location"].rsplit("/", 1)[1]
            if ds is ct:
                assert job_id == page_job
            view = local_server.wait_all_finished(url, [job_id])[job_id]
            assert view["status"] == "COMPLETED"
            assert view["result"]["labels"] is not None
        # And once processed, the default rendering is the one kept at ingest, the same
        # bytes a rendering now gives (a window parameter renders anew)
        kept_files = {p.parent.name for p in (tmp_path / "data").rglob("dicomweb-rendered-1.jpg")}
        assert page_job in kept_files
        assert len(kept_files) == 2
        layouts = {p.parent.name for p in (tmp_path / "data").rglob("dicomweb-frames.json")}
        assert layouts == kept_files
        for ds, path in ((ct, CT), (mr, MR)):
            instance = (
                f"{root}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                f"/instances/{ds.SOPInstanceUID}"
            )
            kept = http.get(f"{instance}/rendered", headers={"Accept": "image/jpeg"}, timeout=30)
            assert kept.status_code == 200
            fresh = render_frame(
                path, frame=1, params=RenderParams(), media_type=JPEG, limits=ImagingLimits()
            )
            assert kept.content == fresh
            windowed = http.get(
                f"{instance}/rendered", params={"window": "40,400"}, timeout=30
            ).content
            assert windowed != fresh
            frames = client.retrieve_instance_frames(
                str(ds.StudyInstanceUID),
                str(ds.SeriesInstanceUID),
                str(ds.SOPInstanceUID),
                frame_numbers=[1],
                media_types=(("application/octet-stream", "*"),),
            )
            assert frames == [ds.PixelData]
            assert windowed == render_frame(
                path,
                frame=1,
                params=RenderParams(window=parse_window("40,400")),
                media_type=JPEG,
                limits=ImagingLimits(),
            )
        # And the CT's metadata (~11 kB) goes out gzipped to a client that accepts gzip,
        # the same JSON a client that does not gets as it is
        metadata = f"{root}/studies/{ct.StudyInstanceUID}/metadata"
        accept = {"Accept": "application/dicom+json"}
        packed = http.get(metadata, headers={**accept, "Accept-Encoding": "gzip"}, timeout=30)
        plain = http.get(metadata, headers={**accept, "Accept-Encoding": "identity"}, timeout=30)
        assert packed.headers["Content-Encoding"] == "gzip"
        assert "Content-Encoding" not in plain.headers
        assert int(packed.headers["Content-Length"]) < len(plain.content) / 3
        assert packed.json() == plain.json()
        # And a second upload of the CT's SOP Instance UID replaces the first
        changed = ct.copy()
        changed.SeriesDescription = "REPLACED"
        replacement = tmp_path / "replacement.dcm"
        changed.save_as(replacement)
        assert _stow(root, replacement.read_bytes()).status_code == 200
        (only,) = client.search_for_instances(
            search_filters={"SOPInstanceUID": str(ct.SOPInstanceUID)},
            fields=["SeriesDescription"],
        )
        assert only["0008103E"]["Value"] == ["REPLACED"]
        # And the patient's name and ID never reached the server's log, also when they
        # were searched for, well or badly
        for ds in (ct, mr):
            assert client.search_for_studies(
                search_filters={"PatientName": str(ds.PatientName), "PatientID": ds.PatientID}
            )
            refused = http.get(
                f"{root}/studies",
                params={"PatientName": str(ds.PatientName), "NoSuchKeyword": ds.PatientID},
                timeout=30,
            )
            assert refused.status_code == 400
            assert str(ds.PatientName) not in refused.text
            assert str(ds.PatientID) not in refused.text
        log = "\n".join(server.output)
        for ds in (ct, mr):
            assert str(ds.PatientName) not in log
            assert str(ds.PatientID) not in log
