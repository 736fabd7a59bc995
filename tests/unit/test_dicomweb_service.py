"""The DICOMweb service over the fake index and blob store: metadata documents become the
WADO-RS answer with absolute BulkDataURIs, unknown UIDs are NOT_FOUND, an instance leads to
its job."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomlens.dicomweb.attributes import index_record, metadata_json
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.services.dicomweb import DicomWebService
from fakes import FakeInstanceIndex, InMemoryBlobStore

ROOT = "https://pacs.example/stage/dicomweb"


def _stored(index: FakeInstanceIndex, blobs: InMemoryBlobStore, name: str) -> pydicom.Dataset:
    path = get_testdata_file(name)
    assert path is not None
    ds = pydicom.dcmread(path)
    key = f"derived/job-{ds.SOPInstanceUID}/dicomweb-metadata.json"
    document = json.dumps(metadata_json(ds), separators=(",", ":")).encode()
    blobs.put_bytes(key, document, content_type="application/dicom+json")
    index.put(
        index_record(
            ds,
            blob_key=f"uploads/job/{name}",
            blob_version=None,
            metadata_key=key,
            job_id=f"job-{name}",
            size=1,
            stored_at=datetime(2026, 12, 6, tzinfo=UTC),
        )
    )
    return ds


def test_metadata_is_each_document_with_absolute_bulk_uris() -> None:
    index, blobs = FakeInstanceIndex(), InMemoryBlobStore()
    ct = _stored(index, blobs, "CT_small.dcm")
    service = DicomWebService(blobs=blobs, index=index, max_results=100)

    answer = json.loads(service.metadata_json(str(ct.StudyInstanceUID), root_url=ROOT))

    (item,) = answer
    assert item["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "CompressedSamples^CT1"}]}
    instance = (
        f"{ROOT}/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}"
        f"/instances/{ct.SOPInstanceUID}"
    )
    assert item["7FE00010"]["BulkDataURI"] == f"{instance}/bulk/7FE00010"


def test_unknown_uids_are_not_found_and_an_instance_leads_to_its_job() -> None:
    index, blobs = FakeInstanceIndex(), InMemoryBlobStore()
    mr = _stored(index, blobs, "MR_small.dcm")
    service = DicomWebService(blobs=blobs, index=index, max_results=100)

    with pytest.raises(DicomlensError) as raised:
        service.metadata_json("1.2.3.4", root_url=ROOT)
    assert raised.value.code == ErrorCode.NOT_FOUND
    uids = (str(mr.StudyInstanceUID), str(mr.SeriesInstanceUID), str(mr.SOPInstanceUID))
    assert service.job_of(*uids) == "job-MR_small.dcm"


def test_indexed_instances_are_read_without_converting_every_value_again() -> None:
    # Given a file parsed for reading, as the renderer does
    path = get_testdata_file("CT_small.dcm")
    assert path is not None
    from pydicom.dataelem import RawDataElement

    from dicomlens.imaging.dicom_dataset import parse_dataset, values_checked_already

    def raw_elements(ds: pydicom.Dataset) -> int:
        return sum(isinstance(e, RawDataElement) for e in ds._dict.values())

    # When it is parsed normally, every top-level value is converted at once
    assert raw_elements(parse_dataset(Path(path), "t", stop_before_pixels=True)) == 0
    # But inside values_checked_already (an indexed instance: converted when stored)
    # pydicom converts each value only when it is read
    with values_checked_already():
        lazy = parse_dataset(Path(path), "t", stop_before_pixels=True)
    assert raw_elements(lazy) > 10
    assert str(lazy.PatientName) == "CompressedSamples^CT1"
