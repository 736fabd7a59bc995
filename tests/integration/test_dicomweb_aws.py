"""The DICOMweb conformance suite (dicomweb-client) against the AWS handlers on moto.

The Lambda handler the template names (``dicomlens.handlers.dicomweb.handler``) runs in AWS
mode, with S3 (the bucket), DynamoDB (the job table and the instance index created from the
template's InstanceIndexTable) on a moto server. API Gateway is the local server's own
emulation (the same v2 events). Answers larger than a Lambda reply are set small here (1 MB)
so that study and series retrieval take the 303-to-S3 path a real deployment takes above
4 MB.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import uvicorn
from dicomweb_conformance import Finding, Target, check_store, checks, guarded
from starlette.applications import Starlette
from starlette.routing import Route

from aws_support import (
    BUCKET,
    FAKE_AWS_ENV,
    INDEX_TABLE,
    REGION,
    TABLE,
    create_index_table,
    moto_server,
    serialised_moto_transactions,
)
from corpus.dicomweb import DicomwebCorpus, generated_datasets, write_dicomweb_corpus
from dicomlens import bootstrap
from dicomlens.adapters.aws.dynamodb_index import DynamoInstanceIndex
from dicomlens.adapters.aws.s3 import S3BlobStore
from dicomlens.config import Settings
from dicomlens.local import routes as route_table
from dicomlens.local.app import api_endpoint

pytestmark = [pytest.mark.dicomweb_server, pytest.mark.timeout(900)]

LAMBDA_REPLY_BYTES = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> DicomwebCorpus:
    return write_dicomweb_corpus(tmp_path_factory.mktemp("dicomweb-aws-corpus"))


@pytest.fixture(scope="module")
def stored(corpus: DicomwebCorpus) -> Iterator[Target]:
    """The template's DICOMweb function on moto, behind the API Gateway emulation, with
    the corpus stored through STOW (the store must succeed)."""
    with pytest.MonkeyPatch.context() as patch, moto_server() as aws:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        with serialised_moto_transactions():
            create_index_table(aws.dynamodb, INDEX_TABLE)
            settings = Settings(
                mode="aws",
                bucket_name=BUCKET,
                table_name=TABLE,
                instance_table_name=INDEX_TABLE,
                aws_region=REGION,
                s3_endpoint_url=aws.endpoint_url,
                dynamodb_endpoint_url=aws.endpoint_url,
                dicomweb=True,
                analyzers=(),
                stow_max_body_bytes=10 * 1024 * 1024,
                dicomweb_max_response_bytes=LAMBDA_REPLY_BYTES,
            )
            services = bootstrap.build_services(settings)
            assert isinstance(services.blobs, S3BlobStore)
            assert isinstance(services.instance_index, DynamoInstanceIndex)
            bootstrap.use_services(services)
            (route,) = [
                r
                for r in route_table.http_routes(
                    route_table.load_template(route_table.default_template_path())
                )
                if r.function == "DicomWebFunction" and r.path.startswith("/dicomweb")
            ]
            app = Starlette(
                routes=[
                    Route(
                        route.starlette_path(),
                        api_endpoint(route, max_body=settings.stow_max_body_bytes),
                        methods=["GET", "HEAD", "POST"],
                    )
                ]
            )
            port = _free_port()
            server = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
            )
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            try:
                root = f"http://127.0.0.1:{port}/dicomweb"
                deadline = time.monotonic() + 30
                while not server.started and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert server.started
                target = Target.at(root)
                assert check_store(target, corpus) == []
                yield target
            finally:
                server.should_exit = True
                thread.join(30)
                bootstrap.use_services(None)


def _check_names() -> list[str]:
    in_memory = DicomwebCorpus(paths=(), datasets=tuple(generated_datasets()))
    return [name for name, _ in checks(in_memory)]


@pytest.mark.parametrize("name", _check_names())
def test_conformance_on_the_aws_handlers(name: str, stored: Target, corpus: DicomwebCorpus) -> None:
    # Given the corpus stored through STOW into S3 and the DynamoDB index
    # When the named check runs with dicomweb-client
    findings: list[Finding] = guarded(name, dict(checks(corpus))[name])(stored, corpus)
    # Then the answers are PS3.18's and the files'
    assert findings == [], [f"{f.check}: {f.detail}" for f in findings]


def test_a_large_retrieve_is_a_303_to_the_stored_answer(
    stored: Target, corpus: DicomwebCorpus
) -> None:
    # Given a study larger than a Lambda reply (the 20-slice CT series)
    study = max(corpus.studies().items(), key=lambda item: len(item[1]))[0]
    # When it is retrieved without following redirects
    response = requests.get(
        f"{stored.root}/studies/{study}",
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
        allow_redirects=False,
        timeout=60,
    )
    # Then the answer is a 303 to a short-lived S3 URL under dicomweb-answers/
    assert response.status_code == 303
    location = response.headers["Location"]
    assert f"/{BUCKET}/dicomweb-answers/" in location or "dicomweb-answers/" in location
    assert "X-Amz-Expires=600" in location
    # whose GET is the multipart body with its content type
    answer = requests.get(location, timeout=60)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith('multipart/related; type="application/dicom"')
    assert len(answer.content) > LAMBDA_REPLY_BYTES


def test_processed_instances_give_frames_by_ranged_reads_of_s3(
    stored: Target, corpus: DicomwebCorpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a multi-frame RLE instance processed as the processor does (its frame layout
    # and default rendering kept in S3)
    services = bootstrap.get_services()
    ds = next(d for d in corpus.datasets if int(d.get("NumberOfFrames", 1) or 1) > 1)
    uids = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
    (instance,) = services.dicomweb.instances(*uids)
    assert instance.job_id is not None
    job = services.jobs.get(instance.job_id)
    assert job is not None
    with services.blobs.local_copy(instance.blob_key, version_id=instance.blob_version) as path:
        assert services.indexer.index_upload(path, job=job) is not None
    assert services.dicomweb.frame_layout(instance) is not None
    # When its frames are retrieved as stored, whole-object reads recorded
    copied: list[str] = []
    original = S3BlobStore.local_copy

    def recording_whole_reads(self: S3BlobStore, key: str, **kwargs: object) -> object:
        copied.append(key)
        return original(self, key, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(S3BlobStore, "local_copy", recording_whole_reads)
    count = int(ds.NumberOfFrames)
    frames = stored.client.retrieve_instance_frames(
        *uids,
        frame_numbers=list(range(1, count + 1)),
        media_types=(("application/octet-stream", "*"),),
    )
    # Then they are the stored codestreams, and the instance itself was never downloaded
    from pydicom.encaps import generate_frames

    assert frames == list(generate_frames(ds.PixelData, number_of_frames=count))
    assert instance.blob_key not in copied


def test_bulk_pixel_data_is_the_stored_value(stored: Target, corpus: DicomwebCorpus) -> None:
    # Given a native CT slice stored through STOW
    ds = next(d for d in corpus.datasets if d.Modality == "CT" and "PixelData" in d)
    uids = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
    # When its Pixel Data is fetched by the BulkDataURI its metadata gives
    meta = stored.client.retrieve_instance_metadata(*uids)
    uri = meta["7FE00010"]["BulkDataURI"]
    (value,) = stored.client.retrieve_bulkdata(uri)
    # Then it is the stored value
    assert value == ds.PixelData
