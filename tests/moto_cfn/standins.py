"""CloudFormation resource types moto does not implement, as stand-ins it can create.

moto 5 creates a stack's resources through ``CloudFormationModel`` subclasses; for these
types it has none, so a stack that holds them fails (``Fn::GetAtt`` on a resource moto
skipped). Each stand-in records its properties and answers ``Ref`` and ``Fn::GetAtt`` with
values of the real shapes (a CloudFront domain, an API endpoint, ARNs). Where the flow
relies on what a resource does, the stand-in does it with moto's own backends: a bucket
policy is set on the bucket, a queue policy on the queue, a generated secret is stored in
Secrets Manager. Alarms, trails, the WAF ACL, CloudFront and the HTTP API do nothing here
(the flow invokes the functions directly).

moto's own ``AWS::S3::Bucket`` applies only encryption and tags; :func:`register` also makes
it apply the versioning and the event notifications the template declares, which the flow
relies on (an upload's notification must reach the processing queue).

:func:`register` must run before moto reads its model list (it caches it).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any, ClassVar

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel


class _StandIn:
    """What every stand-in does; each subclass is also a direct ``CloudFormationModel``
    subclass, which is how moto finds models."""

    TYPE = ""
    ATTRIBUTES: ClassVar[dict[str, str]] = {}

    def __init__(self, name: str, props: dict[str, Any], account_id: str, region: str) -> None:
        self.name = name
        self.props = props
        self.account_id = account_id
        self.region = region
        self.id = hashlib.sha256(f"{self.TYPE}/{name}".encode()).hexdigest()[:14].upper()

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> _StandIn:  # fmt: skip
        made = cls(
            resource_name, cloudformation_json.get("Properties", {}), account_id, region_name
        )
        made.apply()
        return made

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any],
        account_id: str, region_name: str,
    ) -> _StandIn:  # fmt: skip
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str,
    ) -> None:  # fmt: skip
        return None

    def apply(self) -> None:
        """Do what the flow relies on; nothing for most stand-ins."""

    @property
    def physical_resource_id(self) -> str:
        return self.id

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.ATTRIBUTES[attribute_name].format(
            id=self.id, lower=self.id.lower(), name=self.name, region=self.region,
            account=self.account_id,
        )  # fmt: skip


class Alarm(_StandIn, CloudFormationModel):
    TYPE = "AWS::CloudWatch::Alarm"
    ATTRIBUTES: ClassVar[dict[str, str]] = {
        "Arn": "arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
    }


class Trail(_StandIn, CloudFormationModel):
    TYPE = "AWS::CloudTrail::Trail"
    ATTRIBUTES: ClassVar[dict[str, str]] = {
        "Arn": "arn:aws:cloudtrail:{region}:{account}:trail/{name}"
    }


class WebAcl(_StandIn, CloudFormationModel):
    TYPE = "AWS::WAFv2::WebACL"
    ATTRIBUTES: ClassVar[dict[str, str]] = {
        "Arn": "arn:aws:wafv2:us-east-1:{account}:global/webacl/{name}/{lower}",
        "Id": "{lower}",
    }


class Distribution(_StandIn, CloudFormationModel):
    TYPE = "AWS::CloudFront::Distribution"
    ATTRIBUTES: ClassVar[dict[str, str]] = {"DomainName": "d{lower}.cloudfront.net", "Id": "{id}"}


class CloudFrontFunction(_StandIn, CloudFormationModel):
    TYPE = "AWS::CloudFront::Function"
    ATTRIBUTES: ClassVar[dict[str, str]] = {
        "FunctionARN": "arn:aws:cloudfront::{account}:function/{name}",
        "FunctionMetadata.FunctionARN": "arn:aws:cloudfront::{account}:function/{name}",
        "Stage": "LIVE",
    }


class OriginAccessControl(_StandIn, CloudFormationModel):
    TYPE = "AWS::CloudFront::OriginAccessControl"
    ATTRIBUTES: ClassVar[dict[str, str]] = {"Id": "{id}"}


class HttpApi(_StandIn, CloudFormationModel):
    TYPE = "AWS::ApiGatewayV2::Api"
    ATTRIBUTES: ClassVar[dict[str, str]] = {
        "ApiEndpoint": "https://{lower}.execute-api.{region}.amazonaws.com",
        "ApiId": "{lower}",
    }

    @property
    def physical_resource_id(self) -> str:
        return self.id.lower()


class ApiStage(_StandIn, CloudFormationModel):
    TYPE = "AWS::ApiGatewayV2::Stage"

    @property
    def physical_resource_id(self) -> str:
        return str(self.props.get("StageName", "$default"))


_TRANSPORT_KEYS = ("aws:SecureTransport", "s3:TlsVersion")


def _about_transport(statement: dict[str, Any]) -> bool:
    """Whether a policy statement is conditioned on TLS (moto is reached over plain HTTP
    here, so it would deny everything; the template tests and checkov check these)."""
    conditions = statement.get("Condition", {})
    return any(key in test for test in conditions.values() for key in _TRANSPORT_KEYS)


class BucketPolicy(_StandIn, CloudFormationModel):
    """The bucket's policy, set on moto's bucket (which enforces it) without the statements
    about TLS."""

    TYPE = "AWS::S3::BucketPolicy"

    def apply(self) -> None:
        from moto.s3.models import s3_backends

        document = dict(self.props["PolicyDocument"])
        document["Statement"] = [s for s in document["Statement"] if not _about_transport(s)]
        policy = json.dumps(document).encode()
        s3_backends[self.account_id]["aws"].put_bucket_policy(self.props["Bucket"], policy)


class QueuePolicy(_StandIn, CloudFormationModel):
    TYPE = "AWS::SQS::QueuePolicy"

    def apply(self) -> None:
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[self.account_id][self.region]
        for url in self.props["Queues"]:
            name = str(url).rsplit("/", 1)[-1]
            backend.set_queue_attributes(name, {"Policy": json.dumps(self.props["PolicyDocument"])})


class Secret(_StandIn, CloudFormationModel):
    TYPE = "AWS::SecretsManager::Secret"
    ATTRIBUTES: ClassVar[dict[str, str]] = {"Id": "{name}"}
    arn = ""

    def apply(self) -> None:
        from moto.secretsmanager.models import secretsmanager_backends

        generate = self.props.get("GenerateSecretString") or {}
        length = int(generate.get("PasswordLength", 32))
        value = self.props.get("SecretString") or secrets.token_urlsafe(length)[:length]
        backend = secretsmanager_backends[self.account_id][self.region]
        made = backend.create_secret(
            name=self.props["Name"],
            secret_string=value,
            secret_binary=None,
            description=self.props.get("Description"),
            tags=self.props.get("Tags"),
            kms_key_id=None,
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        self.arn = str(json.loads(made)["ARN"])

    @property
    def physical_resource_id(self) -> str:
        return self.arn


STAND_INS = (
    Alarm, Trail, WebAcl, Distribution, CloudFrontFunction, OriginAccessControl, HttpApi,
    ApiStage, BucketPolicy, QueuePolicy, Secret,
)  # fmt: skip


def _bucket_with_settings(create: Any) -> Any:
    """moto's bucket creation, then the template's versioning and notifications."""

    def created(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
        region_name: str, **kwargs: Any,
    ) -> Any:  # fmt: skip
        from moto.s3.models import s3_backends

        bucket = create(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json.get("Properties", {})
        backend = s3_backends[account_id]["aws"]
        versioning = properties.get("VersioningConfiguration", {}).get("Status")
        if versioning:
            backend.put_bucket_versioning(bucket.name, versioning)
        queues = properties.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
        if queues:
            backend.put_bucket_notification_configuration(
                bucket.name,
                {
                    "QueueConfiguration": [
                        {
                            "Queue": queue["Queue"],
                            "Event": [queue["Event"]],
                            **(
                                {
                                    "Filter": {
                                        "S3Key": {"FilterRule": queue["Filter"]["S3Key"]["Rules"]}
                                    }
                                }
                                if "Filter" in queue
                                else {}
                            ),
                        }
                        for queue in queues
                    ]
                },
            )
        return bucket

    return classmethod(created)


def register() -> None:
    """Make moto read its model list again, now with the stand-ins, and its CloudFormation
    buckets apply versioning and notifications."""
    from moto.s3.models import FakeBucket

    if not getattr(FakeBucket, "_dicomlens_settings", False):
        FakeBucket.create_from_cloudformation_json = _bucket_with_settings(  # type: ignore[method-assign]
            FakeBucket.create_from_cloudformation_json
        )
        FakeBucket._dicomlens_settings = True  # type: ignore[attr-defined]
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
