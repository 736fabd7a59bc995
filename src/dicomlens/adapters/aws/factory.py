"""Build the AWS adapters from :class:`~dicomlens.config.Settings` (called by bootstrap in
AWS mode, once per cold start; the de-identification key when a secret ARN is configured)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dicomlens.adapters.aws.clients import make_client
from dicomlens.adapters.aws.dynamodb import DynamoJobStore
from dicomlens.adapters.aws.s3 import S3BlobStore
from dicomlens.config import Settings
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.ports import Analyzer, Clock

if TYPE_CHECKING:
    # Each loads where it is built: the upload and results functions need none of them
    # (cold start), the Rekognition module (numpy, Pillow) only when enabled.
    from dicomlens.adapters.aws.dynamodb_index import DynamoInstanceIndex
    from dicomlens.adapters.aws.rekognition import RekognitionTextLocator
    from dicomlens.adapters.aws.sqs_redelivery import SqsRedelivery


def build_adapters(
    settings: Settings, clock: Clock, *, session: Any = None
) -> tuple[S3BlobStore, DynamoJobStore]:
    """The S3 blob store and the DynamoDB job store these settings name."""
    if not settings.bucket_name:
        raise DicomlensError(ErrorCode.INTERNAL, "AWS mode needs DICOMLENS_BUCKET_NAME")
    s3 = make_client(
        "s3", region=settings.aws_region, endpoint_url=settings.s3_endpoint_url, session=session
    )
    dynamodb = make_client(
        "dynamodb",
        region=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint_url,
        session=session,
    )
    return (
        S3BlobStore(s3, bucket=settings.bucket_name, clock=clock),
        DynamoJobStore(
            dynamodb, table_name=settings.table_name, pending_ttl_s=settings.pending_ttl_s
        ),
    )


def build_instance_index(settings: Settings, *, session: Any = None) -> DynamoInstanceIndex:
    """The DICOMweb instance index in the DynamoDB table ``instance_table_name``."""
    from dicomlens.adapters.aws.dynamodb_index import DynamoInstanceIndex  # noqa: PLC0415

    dynamodb = make_client(
        "dynamodb",
        region=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint_url,
        session=session,
    )
    return DynamoInstanceIndex(dynamodb, table_name=settings.instance_table_name)


def build_redelivery(settings: Settings, *, session: Any = None) -> SqsRedelivery:
    """ChangeMessageVisibility on the processing queue, for messages reported for redelivery."""
    from dicomlens.adapters.aws.sqs_redelivery import SqsRedelivery  # noqa: PLC0415

    return SqsRedelivery(make_client("sqs", region=settings.aws_region, session=session))


def build_analyzers(settings: Settings) -> tuple[Analyzer, ...]:
    """Rekognition DetectLabels, DetectText and DetectFaces, when the settings enable them."""
    if not settings.rekognition:
        return ()
    from dicomlens.adapters.aws.rekognition import (  # noqa: PLC0415 - only when enabled
        RekognitionFaces,
        RekognitionLabels,
        RekognitionText,
    )

    region = settings.aws_region
    return (
        RekognitionLabels(
            region=region,
            max_labels=settings.rekognition_max_labels,
            min_confidence=settings.rekognition_min_confidence,
        ),
        RekognitionText(region=region, min_confidence=settings.rekognition_min_confidence),
        RekognitionFaces(region=region, min_confidence=settings.rekognition_min_confidence),
    )


def build_text_locator(settings: Settings) -> RekognitionTextLocator:
    """De-identification's text locator on AWS: Rekognition DetectText (a ``BoxLocator``);
    bootstrap asks for it only when the settings enable Rekognition."""
    from dicomlens.adapters.aws.rekognition import (  # noqa: PLC0415 - only when enabled
        RekognitionTextLocator,
    )

    return RekognitionTextLocator(region=settings.aws_region)


def read_deid_key(secret_arn: str, *, session: Any = None) -> bytes:
    """The de-identification key in the Secrets Manager secret ``secret_arn``, read with a
    client in the secret's own region (see :class:`SecretsManagerKey`)."""
    from dicomlens.adapters.aws.secrets import SecretsManagerKey, secret_region  # noqa: PLC0415

    client = make_client("secretsmanager", region=secret_region(secret_arn), session=session)
    return SecretsManagerKey(client).read(secret_arn)
