"""The Rekognition analyzers against botocore's Stubber: requests as Rekognition expects them,
responses of the documented shape (DetectLabels: Labels[].Name/Confidence/Instances/
Categories; DetectText: TextDetections[] of LINE and WORD entries with Geometry.BoundingBox),
mapped into the same Label / Finding / TextLine model as the offline analyzers.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber
from PIL import Image

from dicomlens.adapters.aws.clients import RETRIES, make_client
from dicomlens.adapters.aws.rekognition import (
    MAX_BYTES,
    RekognitionLabels,
    RekognitionText,
    encode_for_rekognition,
)
from dicomlens.analysis.analyzers.registry import run_analyzers
from dicomlens.domain.errors import DicomlensError, ErrorCode, TransientError
from dicomlens.domain.results import ImageSummary, PhiFields
from dicomlens.ports import AnalyzerInput


@pytest.fixture
def rekognition() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "rekognition",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - a stubbed client
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def frame(pixels: np.ndarray | None = None, phi: PhiFields | None = None) -> AnalyzerInput:
    return AnalyzerInput(
        pixels=np.full((256, 256), 128, np.uint8) if pixels is None else pixels,
        kind="dicom",
        summary=ImageSummary(modality="CT"),
        phi=phi or PhiFields(),
    )


def test_detect_labels_maps_names_confidences_categories_and_boxes(
    rekognition: tuple[Any, Stubber],
) -> None:
    client, stubber = rekognition
    stubber.add_response(
        "detect_labels",
        {
            "Labels": [
                {
                    "Name": "Person",
                    "Confidence": 98.25,
                    "Instances": [
                        {
                            "BoundingBox": {"Width": 0.5, "Height": 0.25, "Left": 0.1, "Top": 0.2},
                            "Confidence": 97.0,
                        }
                    ],
                    "Parents": [],
                    "Categories": [{"Name": "Person Description"}],
                },
                {"Name": "X-Ray", "Confidence": 75.5, "Instances": [], "Parents": []},
            ],
            "LabelModelVersion": "3.0",
        },
        {"Image": {"Bytes": ANY}, "MaxLabels": 5, "MinConfidence": 70.0},
    )
    found = RekognitionLabels(client=client, max_labels=5, min_confidence=70.0).analyze(frame())
    person, xray = found.labels
    assert (person.name, person.confidence, person.source) == ("Person", 0.9825, "rekognition")
    assert person.category == "Person Description"
    assert person.boxes[0].left == 0.1
    assert person.boxes[0].width == 0.5
    assert (xray.name, xray.confidence, xray.boxes) == ("X-Ray", 0.755, ())


def test_detect_text_keeps_lines_as_phi_and_reports_where_text_is(
    rekognition: tuple[Any, Stubber],
) -> None:
    client, stubber = rekognition
    box = {"Width": 0.3, "Height": 0.05, "Left": 0.02, "Top": 0.9}
    stubber.add_response(
        "detect_text",
        {
            "TextDetections": [
                {
                    "DetectedText": "DOE^JANE",
                    "Type": "LINE",
                    "Id": 0,
                    "Confidence": 99.1,
                    "Geometry": {"BoundingBox": box, "Polygon": []},
                },
                {
                    "DetectedText": "L",
                    "Type": "LINE",
                    "Id": 1,
                    "Confidence": 40.0,
                    "Geometry": {"BoundingBox": box, "Polygon": []},
                },
                {
                    "DetectedText": "DOE^JANE",
                    "Type": "WORD",
                    "Id": 2,
                    "ParentId": 0,
                    "Confidence": 99.1,
                    "Geometry": {"BoundingBox": box, "Polygon": []},
                },
            ],
            "TextModelVersion": "3.0",
        },
        {"Image": {"Bytes": ANY}, "Filters": {"WordFilter": {"MinConfidence": 80.0}}},
    )
    analyzer = RekognitionText(client=client, min_confidence=80.0)
    found = analyzer.analyze(frame(phi=PhiFields(patient_name="Doe^Jane")))
    (line,) = found.burned_in_text  # the WORD repeats the LINE; the 40 % line is dropped
    assert (line.text, line.confidence) == ("DOE^JANE", 0.991)
    assert (line.box.left, line.box.top) == (0.02, 0.9)
    kinds = [finding.kind for finding in found.findings]
    assert kinds == ["burned-in text", "burned-in PHI suspected"]
    assert all("DOE" not in finding.message.upper() for finding in found.findings)


def test_no_text_means_no_findings(rekognition: tuple[Any, Stubber]) -> None:
    client, stubber = rekognition
    stubber.add_response(
        "detect_text", {"TextDetections": []}, {"Image": {"Bytes": ANY}, "Filters": ANY}
    )
    assert RekognitionText(client=client).analyze(frame()).findings == ()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ImageTooLargeException", ErrorCode.TOO_LARGE),
        ("InvalidImageFormatException", ErrorCode.VALIDATION_ERROR),
        ("AccessDeniedException", ErrorCode.INTERNAL),
        ("ThrottlingException", ErrorCode.SERVICE_UNAVAILABLE),
        ("ProvisionedThroughputExceededException", ErrorCode.SERVICE_UNAVAILABLE),
        ("InternalServerError", ErrorCode.SERVICE_UNAVAILABLE),
    ],
)
def test_service_errors_become_domain_errors(
    rekognition: tuple[Any, Stubber], code: str, expected: ErrorCode
) -> None:
    client, stubber = rekognition
    stubber.add_client_error("detect_labels", service_error_code=code, http_status_code=400)
    with pytest.raises(DicomlensError) as caught:
        RekognitionLabels(client=client).analyze(frame())
    assert caught.value.code is expected
    assert caught.value.__cause__ is not None  # raised from the ClientError


@pytest.mark.parametrize(
    ("shape", "max_side", "min_side"),
    [((40, 60), 10_000, 80), ((12_000, 300), 4096, 80), ((512, 512, 3), 512, 512)],
)
def test_frames_are_encoded_within_rekognition_limits(
    shape: tuple[int, ...], max_side: int, min_side: int
) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    encoded = encode_for_rekognition(pixels)
    assert len(encoded) <= MAX_BYTES
    with Image.open(io.BytesIO(encoded)) as image:
        assert image.format == "JPEG"
        assert max(image.size) <= max_side
        assert min(image.size) >= min_side


def test_analyzers_pickle_without_their_client() -> None:
    analyzer = RekognitionLabels(region="eu-west-1", max_labels=3)
    assert pickle.loads(pickle.dumps(analyzer)) == analyzer  # noqa: S301 - our own bytes


def test_clients_use_standard_retries() -> None:
    assert RETRIES["mode"] == "standard"


def test_detect_text_gives_the_same_findings_as_the_offline_ocr(
    rekognition: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the same lines read by Rekognition and by the offline OCR, on a frame whose
    # file declares BurnedInAnnotation NO and whose patient is named in the text
    from dicomlens.analysis.analyzers.ocr import BurnedInTextReader

    client, stubber = rekognition
    box = {"Width": 0.3, "Height": 0.05, "Left": 0.02, "Top": 0.9}
    stubber.add_response(
        "detect_text",
        {
            "TextDetections": [
                {
                    "DetectedText": text,
                    "Type": "LINE",
                    "Id": index,
                    "Confidence": confidence,
                    "Geometry": {"BoundingBox": box, "Polygon": []},
                }
                for index, (text, confidence) in enumerate(
                    [("DOE^JANE", 99.1), ("12/03/1961", 85.0), ("L", 90.0)]
                )
            ]
        },
        {"Image": {"Bytes": ANY}, "Filters": {"WordFilter": {"MinConfidence": 80.0}}},
    )
    shown = AnalyzerInput(
        pixels=np.full((256, 256), 128, np.uint8),
        kind="dicom",
        summary=ImageSummary(modality="CT", burned_in_annotation="NO"),
        phi=PhiFields(patient_name="Doe^Jane", patient_birth_date="19610312"),
    )
    aws = RekognitionText(client=client, min_confidence=80.0).analyze(shown)
    monkeypatch.setattr(BurnedInTextReader, "read", lambda self, pixels: aws.burned_in_text)
    offline = BurnedInTextReader().analyze(shown)
    # Then both report the same findings, with the same confidences; only the source differs
    assert [f.kind for f in aws.findings] == [
        "burned-in text",
        "burned-in PHI suspected",
        "burned-in-annotation-mismatch",
    ]
    assert [f.model_copy(update={"source": None}) for f in aws.findings] == [
        f.model_copy(update={"source": None}) for f in offline.findings
    ]
    assert aws.burned_in_text == offline.burned_in_text


def test_rekognition_clients_retry_adaptively() -> None:
    """Client-side rate limiting after throttling: the Rekognition quota is shared by every
    concurrent processor."""
    client = make_client("rekognition", region="eu-west-1")
    assert client.meta.config.retries["mode"] == "adaptive"
    assert make_client("dynamodb", region="eu-west-1").meta.config.retries["mode"] == "standard"


def test_throttling_is_a_transient_error_not_an_analyzer_failed_finding(
    rekognition: tuple[Any, Stubber],
) -> None:
    """Given Rekognition throttling past the client's retries, when the analyzers run, then
    the TransientError propagates (the attempt is retried) instead of becoming a finding."""
    client, stubber = rekognition
    stubber.add_client_error(
        "detect_labels", service_error_code="ThrottlingException", http_status_code=400
    )
    with pytest.raises(TransientError):
        run_analyzers([RekognitionLabels(client=client)], frame())


def test_a_broken_connection_is_a_transient_error() -> None:
    class Unreachable:
        def detect_text(self, **kwargs: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://rekognition.example")

    with pytest.raises(TransientError) as caught:
        RekognitionText(client=Unreachable()).analyze(frame())
    assert caught.value.code is ErrorCode.SERVICE_UNAVAILABLE


def test_detect_faces_gives_the_same_labels_and_finding_as_the_offline_detector(
    rekognition: tuple[Any, Stubber],
) -> None:
    from dicomlens.adapters.aws.rekognition import RekognitionFaces
    from dicomlens.analysis.analyzers.faces import face_output
    from dicomlens.domain.results import Box

    client, stubber = rekognition
    face = {"BoundingBox": {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.1}}
    stubber.add_response(
        "detect_faces",
        {"FaceDetails": [{**face, "Confidence": 99.5}, {**face, "Confidence": 40.0}]},
        {"Image": {"Bytes": ANY}, "Attributes": ["DEFAULT"]},
    )
    found = RekognitionFaces(client=client, min_confidence=70.0).analyze(frame())
    # Then the face above the confidence floor is a Face/Person label and a face finding,
    # exactly as the offline cascade would report it
    expected = face_output(
        [Box(left=0.4, top=0.1, width=0.2, height=0.3)], [0.995], source="rekognition"
    )
    assert found == expected
    assert [f.kind for f in found.findings] == ["face"]
    assert {label.name for label in found.labels} == {"Face", "Person"}
