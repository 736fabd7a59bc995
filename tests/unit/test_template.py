"""The SAM template declares every resource and property the deployment promises, and the
design's separate JSON files (infra/*.json) say the same as the template.

Given the parsed template (CloudFormation short tags read as ``{"Ref": ...}``,
``{"Fn::If": ...}``), when a property is looked up, then it has the promised value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dicomlens.local.routes import http_routes, load_template

INFRA = Path(__file__).resolve().parents[2] / "infra"
TEMPLATE = load_template(INFRA / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
SITE_ORIGIN = {
    "Fn::If": [
        "HasSiteOrigin",
        {"Ref": "SiteOrigin"},
        {"Fn::Sub": "https://${WebsiteDistribution.DomainName}"},
    ]
}
UPLOAD_BUCKET_NAME = "${NamePrefix}-${Stage}-uploads-${AWS::AccountId}-${AWS::Region}"


def props(logical_id: str) -> dict[str, Any]:
    resource = RESOURCES[logical_id]
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def of_type(type_name: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == type_name}


def statements(role: str) -> dict[str, dict[str, Any]]:
    (policy,) = props(role)["Policies"]
    found = {}
    for entry in policy["PolicyDocument"]["Statement"]:
        # an optional (KMS) statement is an Fn::If whose true branch is the statement
        statement = entry["Fn::If"][1] if "Fn::If" in entry else entry
        found[statement["Sid"]] = statement
    return found


def actions(statement: dict[str, Any]) -> set[str]:
    value = statement["Action"]
    return {value} if isinstance(value, str) else set(value)


def subbed(value: Any) -> str:
    return str(value["Fn::Sub"]) if isinstance(value, dict) and "Fn::Sub" in value else str(value)


def function_roles() -> dict[str, str]:
    """Every function of the template -> the logical id of its role."""
    return {
        name: str(r["Properties"]["Role"]["Fn::GetAtt"]).split(".")[0]
        for name, r in of_type("AWS::Serverless::Function").items()
    }


def policy_name(role: str) -> str:
    (policy,) = props(role)["Policies"]
    return str(policy["PolicyName"])


# ---------------------------------------------------------------- the three functions


def test_functions_keep_the_handlers_and_routes_the_local_runtime_uses() -> None:
    routes = {(r.method, r.path): r.handler for r in http_routes(TEMPLATE)}
    assert {
        ("POST", "/uploads"): "dicomlens.handlers.create_upload.handler",
        ("GET", "/jobs/{jobId}"): "dicomlens.handlers.get_results.handler",
        ("GET", "/openapi.json"): "dicomlens.handlers.get_results.handler",
        ("POST", "/jobs/{jobId}/deidentify"): "dicomlens.handlers.deidentify.handler",
    }.items() <= routes.items()
    assert props("ProcessImageFunction")["Handler"] == "dicomlens.handlers.process_image.handler"


@pytest.mark.parametrize(
    ("function", "memory", "timeout"),
    [
        ("CreateUploadFunction", 128, 30),
        ("GetResultsFunction", 128, 30),
        ("DeidentifyFunction", 1024, 29),  # under the HTTP API's 30 s integration limit
    ],
)
def test_api_function_sizes(function: str, memory: int, timeout: int) -> None:
    assert props(function)["MemorySize"] == memory
    assert props(function)["Timeout"] == timeout


def test_processor_has_at_least_1024_mb_and_300_s() -> None:
    assert props("ProcessImageFunction")["Timeout"] == 300
    memory = TEMPLATE["Parameters"]["ProcessorMemoryMB"]
    assert props("ProcessImageFunction")["MemorySize"] == {"Ref": "ProcessorMemoryMB"}
    assert memory["MinValue"] >= 1024
    assert memory["Default"] >= 1024


def test_globals_python312_layer_and_active_tracing() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.12"
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Layers"] == [{"Ref": "DicomLibsLayer"}]
    env = function_globals["Environment"]["Variables"]
    assert env["DICOMLENS_MODE"] == "aws"
    assert subbed(env["DICOMLENS_BUCKET_NAME"]) == UPLOAD_BUCKET_NAME
    assert env["DICOMLENS_SITE_ORIGIN"] == SITE_ORIGIN


# What the Lambda python3.12 runtime ships (boto3 and its dependencies): never in the layer,
# where it would shadow the runtime's copy (/opt/python comes first on sys.path).
RUNTIME_PACKAGES = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)


def layer_requirements() -> list[str]:
    lines = (INFRA / "layer" / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_layer_is_built_by_its_makefile_from_exact_pins_without_the_runtimes_packages() -> None:
    layer = RESOURCES["DicomLibsLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (INFRA / "layer" / "Makefile").read_text()
    assert "build-DicomLibsLayer:" in makefile
    assert "--no-deps" in makefile  # requirements.txt is the whole lock
    for requirement in layer_requirements():
        name, separator, version = requirement.partition("==")
        # exact pins only: no range, no extra (--no-deps ignores extras), no marker
        assert separator and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name), requirement
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!]*", version), requirement
        assert name.lower().replace("_", "-") not in RUNTIME_PACKAGES, requirement


def test_layer_pins_manylinux_wheels_of_the_dicom_stack() -> None:
    layer = RESOURCES["DicomLibsLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    pins = dict(line.split("==") for line in layer_requirements())
    for name, version in {
        "numpy": "2.2.6",
        "pillow": "12.2.0",
        "pylibjpeg-libjpeg": "2.4.0",
        "pylibjpeg-openjpeg": "2.6.0",
        "pydicom": "3.0.2",
        "pylibjpeg": "2.1.0",
    }.items():
        assert pins[name] == version
    assert "pylibjpeg-rle" in pins


@pytest.mark.parametrize(
    ("function", "log_group"),
    [
        ("CreateUploadFunction", "CreateUploadLogGroup"),
        ("ProcessImageFunction", "ProcessImageLogGroup"),
        ("GetResultsFunction", "GetResultsLogGroup"),
        ("DeidentifyFunction", "DeidentifyLogGroup"),
        ("DicomWebFunction", "DicomWebLogGroup"),
    ],
)
def test_json_logs_with_retention(function: str, log_group: str) -> None:
    logging = props(function)["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert logging["LogGroup"] == {"Ref": log_group}
    assert props(log_group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_function_logs_json_into_its_own_log_group_with_retention() -> None:
    """Also functions added later: none may fall back to a log group without retention."""
    groups = []
    for function in of_type("AWS::Serverless::Function"):
        logging = props(function)["LoggingConfig"]
        assert logging["LogFormat"] == "JSON", function
        group = logging["LogGroup"]["Ref"]
        assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup", function
        assert props(group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}, function
        name = props(function)["FunctionName"]["Fn::Sub"]
        assert props(group)["LogGroupName"]["Fn::Sub"] == f"/aws/lambda/{name}", function
        groups.append(group)
    assert len(groups) == len(set(groups))


PROCESSOR_TIMEOUT_S = 300


def test_the_processor_reads_the_processing_queue_reporting_batch_item_failures() -> None:
    function = props("ProcessImageFunction")
    assert "EventInvokeConfig" not in function  # no asynchronous invocation path any more
    (event,) = function["Events"].values()
    assert event["Type"] == "SQS"
    mapping = event["Properties"]
    assert mapping["Queue"] == {"Fn::GetAtt": "ProcessingQueue.Arn"}
    assert 1 <= mapping["BatchSize"] <= 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "ProcessorMaxConcurrency"}}
    parameter = TEMPLATE["Parameters"]["ProcessorMaxConcurrency"]
    assert parameter["MinValue"] >= 2  # SQS event sources accept 2..1000
    assert parameter["MaxValue"] <= 1000


def test_visibility_timeout_covers_six_function_timeouts_and_exceeds_the_lease() -> None:
    queue = props("ProcessingQueue")
    assert props("ProcessImageFunction")["Timeout"] == PROCESSOR_TIMEOUT_S
    assert queue["VisibilityTimeout"] >= 6 * PROCESSOR_TIMEOUT_S
    lease = float(
        props("ProcessImageFunction")["Environment"]["Variables"]["DICOMLENS_LEASE_TIMEOUT_S"]
    )
    # the lease outlives the invocation (a live attempt is never re-claimed) but ends well
    # before a redelivery (a dead attempt's job is re-claimed by it)
    assert PROCESSOR_TIMEOUT_S < lease < queue["VisibilityTimeout"]


def test_failed_messages_go_to_the_failure_queue_after_a_few_receives() -> None:
    redrive = props("ProcessingQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": "ProcessorFailureQueue.Arn"}
    assert 3 <= redrive["maxReceiveCount"] <= 10
    assert RESOURCES["ProcessorFailureQueue"]["Type"] == "AWS::SQS::Queue"
    failure_retention = props("ProcessorFailureQueue")["MessageRetentionPeriod"]
    assert failure_retention > props("ProcessingQueue")["MessageRetentionPeriod"]
    # the sweeper waits for every redelivery before it calls a job stuck
    stuck = float(props("SweepJobsFunction")["Environment"]["Variables"]["DICOMLENS_STUCK_AFTER_S"])
    assert stuck > redrive["maxReceiveCount"] * props("ProcessingQueue")["VisibilityTimeout"]


@pytest.mark.parametrize("queue", ["ProcessingQueue", "ProcessorFailureQueue"])
def test_queues_are_encrypted_and_refuse_plain_http(queue: str) -> None:
    properties = props(queue)
    assert properties["SqsManagedSseEnabled"] == {
        "Fn::If": ["UseKms", {"Ref": "AWS::NoValue"}, True]
    }
    assert properties["KmsMasterKeyId"] == {
        "Fn::If": ["UseKms", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]
    }
    (policy,) = (
        r["Properties"]
        for r in of_type("AWS::SQS::QueuePolicy").values()
        if r["Properties"]["Queues"] == [{"Ref": queue}]
    )
    deny = next(s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny")
    assert deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    assert deny["Resource"] == {"Fn::GetAtt": f"{queue}.Arn"}


def test_only_the_upload_bucket_may_send_to_the_processing_queue() -> None:
    (allow,) = (
        s
        for s in props("ProcessingQueuePolicy")["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    )
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == {"Fn::GetAtt": "ProcessingQueue.Arn"}
    assert subbed(allow["Condition"]["ArnEquals"]["aws:SourceArn"]).endswith(UPLOAD_BUCKET_NAME)
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_the_sweeper_runs_on_a_schedule() -> None:
    function = props("SweepJobsFunction")
    assert function["Handler"] == "dicomlens.handlers.sweep_jobs.handler"
    (event,) = function["Events"].values()
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == "rate(5 minutes)"
    assert function["Timeout"] <= 300


def test_processor_reserved_concurrency_is_a_parameter() -> None:
    assert props("ProcessImageFunction")["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "HasReservedConcurrency",
            {"Ref": "ProcessorReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }


# ---------------------------------------------------------------- buckets


def test_upload_bucket_is_private_encrypted_and_versioned() -> None:
    bucket = props("UploadBucket")
    assert subbed(bucket["BucketName"]) == UPLOAD_BUCKET_NAME
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    kms, s3_managed = rule["ServerSideEncryptionByDefault"]["Fn::If"][1:]
    assert rule["ServerSideEncryptionByDefault"]["Fn::If"][0] == "UseKms"
    assert kms == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Ref": "KmsKeyArn"}}
    assert s3_managed == {"SSEAlgorithm": "AES256"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}


@pytest.mark.parametrize(
    ("policy", "bucket"),
    [
        ("UploadBucketPolicy", "UploadBucket"),
        ("WebsiteBucketPolicy", "WebsiteBucket"),
        ("AccessLogsBucketPolicy", "AccessLogsBucket"),
    ],
)
def test_bucket_policies_refuse_plain_http(policy: str, bucket: str) -> None:
    assert props(policy)["Bucket"] == {"Ref": bucket}
    deny = next(
        s
        for s in props(policy)["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and "aws:SecureTransport" in s.get("Condition", {}).get("Bool", {})
    )
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    assert {"Fn::GetAtt": f"{bucket}.Arn"} in deny["Resource"]


def test_upload_cors_allows_only_the_site_origin() -> None:
    (rule,) = props("UploadBucket")["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == [SITE_ORIGIN]
    assert set(rule["AllowedMethods"]) == {"POST", "PUT", "GET", "HEAD"}
    assert rule["ExposedHeaders"] == ["ETag"]


def test_upload_lifecycle_aborts_multipart_and_can_expire_originals() -> None:
    rules = {r["Id"]: r for r in props("UploadBucket")["LifecycleConfiguration"]["Rules"]}
    abort = rules["abort-incomplete-multipart-uploads"]
    assert abort["Status"] == "Enabled"
    assert abort["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    originals = rules["expire-originals"]
    assert originals["Prefix"] == "uploads/"
    assert originals["Status"] == {"Fn::If": ["ExpireOriginals", "Enabled", "Disabled"]}


def test_objects_created_under_uploads_go_to_the_processing_queue() -> None:
    notifications = props("UploadBucket")["NotificationConfiguration"]
    assert set(notifications) == {"QueueConfigurations"}  # no direct S3 -> Lambda path
    (config,) = notifications["QueueConfigurations"]
    assert config["Event"] == "s3:ObjectCreated:*"
    assert config["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "uploads/"}]
    assert config["Queue"] == {"Fn::GetAtt": "ProcessingQueue.Arn"}
    # S3 checks it may send when the notification is configured: the policy comes first
    assert RESOURCES["UploadBucket"]["DependsOn"] == "ProcessingQueuePolicy"
    assert not of_type("AWS::Lambda::Permission")


def test_website_bucket_is_private_and_read_only_by_cloudfront_through_oac() -> None:
    bucket = props("WebsiteBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    allow = next(
        s
        for s in props("WebsiteBucketPolicy")["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    )
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert "${WebsiteDistribution}" in subbed(allow["Condition"]["StringEquals"]["AWS:SourceArn"])
    oac = props("WebsiteOriginAccessControl")["OriginAccessControlConfig"]
    assert oac["SigningBehavior"] == "always"
    assert oac["OriginAccessControlOriginType"] == "s3"
    distribution = props("WebsiteDistribution")["DistributionConfig"]
    (origin,) = distribution["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": "WebsiteOriginAccessControl.Id"}
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    assert distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert distribution["DefaultRootObject"] == "index.html"


def test_public_website_policy_stays_available_as_the_documented_alternative() -> None:
    policy = json.loads((INFRA / "website-bucket-policy.json").read_text())
    (statement,) = policy["Statement"]
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:GetObject"
    assert "website-bucket-policy.json" in (INFRA.parent / "docs" / "setup-guide.md").read_text()


# ---------------------------------------------------------------- table


def test_results_table_key_billing_pitr_encryption_ttl() -> None:
    table = props("ResultsTable")
    assert table["KeySchema"] == [{"AttributeName": "jobId", "KeyType": "HASH"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    name = table["TableName"]["Fn::If"]
    assert name[0] == "HasTableName"
    assert subbed(name[2]).endswith("ImageAnalysisResults")


def test_the_sparse_open_jobs_index_is_the_one_the_adapter_writes_and_queries() -> None:
    from dicomlens.adapters.aws.dynamodb import (
        OPEN_JOBS_INDEX,
        OPEN_SINCE_ATTRIBUTE,
        OPEN_STATUS_ATTRIBUTE,
    )

    table = props("ResultsTable")
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == OPEN_JOBS_INDEX
    assert index["KeySchema"] == [
        {"AttributeName": OPEN_STATUS_ATTRIBUTE, "KeyType": "HASH"},
        {"AttributeName": OPEN_SINCE_ATTRIBUTE, "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert types == {"jobId": "S", OPEN_STATUS_ATTRIBUTE: "S", OPEN_SINCE_ATTRIBUTE: "N"}


def test_ttl_attribute_is_the_one_the_adapter_writes() -> None:
    from dicomlens.adapters.aws.dynamodb import TTL_ATTRIBUTE

    assert props("ResultsTable")["TimeToLiveSpecification"]["AttributeName"] == TTL_ATTRIBUTE


# ---------------------------------------------------------------- IAM


def test_one_role_per_function_trusted_by_lambda_only() -> None:
    roles = function_roles()
    assert roles == {
        "CreateUploadFunction": "CreateUploadRole",
        "ProcessImageFunction": "ProcessImageRole",
        "GetResultsFunction": "GetResultsRole",
        "DeidentifyFunction": "DeidentifyRole",
        "SweepJobsFunction": "SweepJobsRole",
        "DicomWebFunction": "DicomWebRole",
    }
    assert set(roles.values()) == set(of_type("AWS::IAM::Role"))  # no shared, no spare role
    for role in roles.values():
        (trust,) = props(role)["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert trust["Action"] == "sts:AssumeRole"


_EVERY_ROLE = ("Logs", "Tracing", "EncryptDecryptTable")


def _data_actions(role: str) -> dict[str, set[str]]:
    """Sid -> actions, without logs, tracing and the optional table key (see
    test_the_optional_records_key_encrypts_the_table_and_logs)."""
    return {sid: actions(s) for sid, s in statements(role).items() if sid not in _EVERY_ROLE}


def test_the_optional_records_key_encrypts_the_table_and_logs() -> None:
    # The table holds PHI: a customer-managed key is opt-in (RecordsKmsKeyArn)
    assert TEMPLATE["Parameters"]["RecordsKmsKeyArn"]["Default"] == ""
    sse = props("ResultsTable")["SSESpecification"]
    assert sse["SSEEnabled"] is True
    assert sse["KMSMasterKeyId"] == {
        "Fn::If": ["UseRecordsKey", {"Ref": "RecordsKmsKeyArn"}, {"Ref": "AWS::NoValue"}]
    }
    for name in of_type("AWS::Logs::LogGroup"):
        assert props(name)["KmsKeyId"]["Fn::If"][0] == "UseRecordsKey", name
    # every role that reads or writes the table may use that key, through DynamoDB only
    table = {"Fn::GetAtt": "ResultsTable.Arn"}
    for role in of_type("AWS::IAM::Role"):
        found = statements(role)
        if not any(s.get("Resource") == table for s in found.values()):
            continue
        statement = found["EncryptDecryptTable"]
        assert statement["Resource"] == {"Ref": "RecordsKmsKeyArn"}, role
        assert "kms:Decrypt" in actions(statement)
        via = statement["Condition"]["StringEquals"]["kms:ViaService"]
        assert via == {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}, role


def test_create_upload_role_is_least_privilege() -> None:
    granted = _data_actions("CreateUploadRole")
    assert granted == {
        "PresignUploads": {"s3:PutObject"},
        "CreateJobs": {"dynamodb:PutItem"},
        "EncryptUploads": {"kms:GenerateDataKey"},
    }
    assert subbed(statements("CreateUploadRole")["PresignUploads"]["Resource"]).endswith(
        f"{UPLOAD_BUCKET_NAME}/uploads/*"
    )


def test_processor_role_is_least_privilege() -> None:
    granted = _data_actions("ProcessImageRole")
    assert granted == {
        "ReadUploads": {"s3:GetObject"},
        "WriteDerived": {"s3:PutObject"},
        "ClaimAndFinishJobs": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "IndexInstances": {  # with DICOMweb on (Fn::If UseDicomWeb)
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        },
        "AnalyseImages": {
            "rekognition:DetectLabels",
            "rekognition:DetectText",
            "rekognition:DetectFaces",
        },
        "ConsumeProcessingQueue": {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ChangeMessageVisibility",  # a redelivery's wait: the lease or a backoff
            "sqs:GetQueueUrl",
        },
        "DecryptUploadsEncryptDerived": {"kms:Decrypt", "kms:GenerateDataKey"},
    }
    found = statements("ProcessImageRole")
    assert subbed(found["ReadUploads"]["Resource"]).endswith("/uploads/*")
    assert subbed(found["WriteDerived"]["Resource"]).endswith("/derived/*")
    assert found["ConsumeProcessingQueue"]["Resource"] == {"Fn::GetAtt": "ProcessingQueue.Arn"}


def test_sweeper_role_is_least_privilege() -> None:
    granted = _data_actions("SweepJobsRole")
    assert granted == {
        "FindOpenJobs": {"dynamodb:Query"},
        "EndOverdueJobs": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "LookUpUploads": {"s3:GetObject"},
        "DecryptUploads": {"kms:Decrypt"},
    }
    found = statements("SweepJobsRole")
    assert subbed(found["FindOpenJobs"]["Resource"]) == "${ResultsTable.Arn}/index/open-jobs"
    assert found["EndOverdueJobs"]["Resource"] == {"Fn::GetAtt": "ResultsTable.Arn"}
    assert subbed(found["LookUpUploads"]["Resource"]).endswith(f"{UPLOAD_BUCKET_NAME}/uploads/*")
    # no role but the processor's touches a queue
    for role in of_type("AWS::IAM::Role"):
        if role != "ProcessImageRole":
            assert not any(a.startswith("sqs:") for a in set().union(*_data_actions(role).values()))


def test_results_role_is_least_privilege() -> None:
    granted = _data_actions("GetResultsRole")
    assert granted == {
        "ReadJobs": {"dynamodb:GetItem"},
        "ExpireAbandonedJobs": {"dynamodb:UpdateItem"},
        "PresignDownloads": {"s3:GetObject"},
        "DecryptDownloads": {"kms:Decrypt"},
    }


def test_deidentify_role_is_least_privilege() -> None:
    granted = _data_actions("DeidentifyRole")
    assert granted == {
        "ReadJobs": {"dynamodb:GetItem"},
        "ReadOriginals": {"s3:GetObject"},
        "PresignDeidentified": {"s3:GetObject"},
        "WriteDeidentified": {"s3:PutObject"},
        "ReadDeidentificationKey": {"secretsmanager:GetSecretValue"},
        "LocateText": {"rekognition:DetectText"},
        "DecryptOriginalsEncryptDerived": {"kms:Decrypt", "kms:GenerateDataKey"},
    }
    found = statements("DeidentifyRole")
    bucket = f"arn:${{AWS::Partition}}:s3:::{UPLOAD_BUCKET_NAME}"
    assert subbed(found["ReadOriginals"]["Resource"]) == f"{bucket}/uploads/*"
    # only its own output: derived/{jobId}/deidentified.dcm, never the previews
    assert subbed(found["WriteDeidentified"]["Resource"]) == f"{bucket}/derived/*/deidentified.dcm"
    assert subbed(found["PresignDeidentified"]["Resource"]) == (
        f"{bucket}/derived/*/deidentified.dcm"
    )
    assert found["ReadJobs"]["Resource"] == {"Fn::GetAtt": "ResultsTable.Arn"}


def test_no_role_grants_a_wildcard_action() -> None:
    for role in of_type("AWS::IAM::Role"):
        for statement in statements(role).values():
            assert not any(action.endswith("*") for action in actions(statement)), role


# ---------------------------------------------------------------- de-identification key


def test_deidentification_key_is_a_generated_secret() -> None:
    (name,) = of_type("AWS::SecretsManager::Secret")
    assert name == "DeidentificationSecret"
    secret = props(name)
    generated = secret["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32
    assert "SecretString" not in secret  # generated by Secrets Manager, never in the template
    assert "KmsKeyId" not in secret  # the AWS managed key aws/secretsmanager
    # no parameter carries a key (nothing to hide with NoEcho), no output shows the secret
    assert not any("NoEcho" in p for p in TEMPLATE["Parameters"].values())
    assert not any("secret" in n.lower() for n in TEMPLATE["Parameters"])
    assert "DeidentificationSecret" not in json.dumps(TEMPLATE["Outputs"])


def test_only_the_deidentify_role_reads_the_key_and_only_that_secret() -> None:
    readers = {}
    for role in of_type("AWS::IAM::Role"):
        for statement in statements(role).values():
            if any(action.startswith("secretsmanager:") for action in actions(statement)):
                readers[role] = statement
    assert list(readers) == ["DeidentifyRole"]
    statement = readers["DeidentifyRole"]
    assert statement["Effect"] == "Allow"
    assert actions(statement) == {"secretsmanager:GetSecretValue"}
    assert statement["Resource"] == {"Ref": "DeidentificationSecret"}


def test_deidentify_function_gets_the_key_by_arn_only() -> None:
    env = props("DeidentifyFunction")["Environment"]["Variables"]
    assert env == {"DICOMLENS_DEID_SECRET_ARN": {"Ref": "DeidentificationSecret"}}
    global_env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert not any(name.startswith("DICOMLENS_DEID_SECRET") for name in global_env)
    from dicomlens.config import Settings

    assert "deid_secret_arn" in Settings.model_fields  # DICOMLENS_DEID_SECRET_ARN is read


# ---------------------------------------------------------------- HTTP API


def test_http_api_cors_throttling_and_access_logs() -> None:
    api = props("HttpApi")
    assert api["CorsConfiguration"]["AllowOrigins"] == [SITE_ORIGIN]
    route = api["DefaultRouteSettings"]
    assert route["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert route["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": "ApiAccessLogGroup.Arn"}
    condition, with_ip, without_ip = api["AccessLogSettings"]["Format"]["Fn::If"]
    # client IPs (personal data) are logged only when the deployment asks for them
    assert condition == "LogIps"
    assert TEMPLATE["Parameters"]["LogClientIps"]["Default"] == "false"
    assert TEMPLATE["Conditions"]["LogIps"] == {"Fn::Equals": [{"Ref": "LogClientIps"}, "true"]}
    assert json.loads(with_ip)["ip"] == "$context.identity.sourceIp"
    assert "sourceIp" not in without_ip
    assert json.loads(with_ip) == {**json.loads(without_ip), "ip": "$context.identity.sourceIp"}


def test_jwt_authorizer_is_optional_and_off_by_default() -> None:
    assert TEMPLATE["Parameters"]["EnableJwtAuth"]["Default"] == "false"
    body = props("HttpApi")["DefinitionBody"]
    # every route but the OpenAPI document, including routes added later: a route missing
    # from the body would stay open when the authorizer is turned on
    guarded = [
        (r.path, r.method.lower()) for r in http_routes(TEMPLATE) if r.path != "/openapi.json"
    ]
    assert ("/uploads", "post") in guarded
    for path, method in guarded:
        operations = body["paths"][path]
        operation = operations.get(method) or operations["x-amazon-apigateway-any-method"]
        assert operation["security"] == {
            "Fn::If": ["UseJwtAuth", [{"CognitoJwt": []}], {"Ref": "AWS::NoValue"}]
        }
    condition, schemes, absent = body["components"]["Fn::If"]
    assert condition == "UseJwtAuth"
    assert absent == {"Ref": "AWS::NoValue"}
    jwt = schemes["securitySchemes"]["CognitoJwt"]["x-amazon-apigateway-authorizer"]
    assert jwt["type"] == "jwt"
    assert jwt["jwtConfiguration"] == {
        "issuer": {"Ref": "JwtIssuer"},
        "audience": [{"Ref": "JwtAudience"}],
    }


# ---------------------------------------------------------------- monitoring and options


def test_alarms_cover_errors_duration_5xx_throttling_and_dead_letters() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    watched = {
        (
            a["Properties"]["Namespace"],
            a["Properties"]["MetricName"],
            json.dumps(a["Properties"]["Dimensions"]),
        )
        for a in alarms.values()
    }
    for function in of_type("AWS::Serverless::Function"):
        dims = json.dumps([{"Name": "FunctionName", "Value": {"Ref": function}}])
        assert ("AWS/Lambda", "Errors", dims) in watched
    duration = props("ProcessImageDurationAlarm")
    assert duration["MetricName"] == "Duration"
    assert duration["Threshold"] == 4 * 60 * 1000
    assert props("Api5xxAlarm")["MetricName"] == "5xx"
    assert props("TableThrottlingAlarm")["MetricName"] == "ThrottledRequests"
    dead = props("FailureQueueMessagesAlarm")
    assert dead["Namespace"] == "AWS/SQS"
    assert (dead["Threshold"], dead["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    age = props("ProcessingQueueAgeAlarm")
    assert (age["Namespace"], age["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert age["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": "ProcessingQueue.QueueName"}}
    ]
    throttles = props("ProcessImageThrottlesAlarm")
    assert (throttles["Namespace"], throttles["MetricName"]) == ("AWS/Lambda", "Throttles")
    assert throttles["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": "ProcessImageFunction"}}
    ]
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"]["Fn::If"][0] == "HasAlarmEmail"
    assert RESOURCES["AlarmTopic"]["Condition"] == "HasAlarmEmail"


@pytest.mark.parametrize(
    ("parameter", "condition", "resources"),
    [
        ("EnableWaf", "UseWaf", ["WebAcl"]),
        ("EnableCloudTrail", "UseCloudTrail", ["DataEventsTrail", "TrailBucket"]),
        (
            "VpcId",
            "UseVpc",
            [
                "S3GatewayEndpoint",
                "DynamoDbGatewayEndpoint",
                "RekognitionEndpoint",
                "SecretsManagerEndpoint",  # the de-identification key, from private subnets
            ],
        ),
    ],
)
def test_optional_hardening_is_off_by_default_and_costed(
    parameter: str, condition: str, resources: list[str]
) -> None:
    assert TEMPLATE["Parameters"][parameter]["Default"] in ("false", "")
    for name in resources:
        assert RESOURCES[name]["Condition"] == condition
    guide = (INFRA.parent / "docs" / "setup-guide.md").read_text()
    assert parameter in guide


def test_outputs() -> None:
    outputs = TEMPLATE["Outputs"]
    for name in ("ApiUrl", "WebsiteUrl", "UploadBucketName", "WebsiteBucketName", "TableName"):
        assert name in outputs
    # what dicomlens redrive reads
    from dicomlens.cli.redrive import FAILURE_QUEUE_OUTPUT, PROCESSING_QUEUE_OUTPUT

    assert outputs[PROCESSING_QUEUE_OUTPUT]["Value"] == {"Ref": "ProcessingQueue"}
    assert outputs[FAILURE_QUEUE_OUTPUT]["Value"] == {"Ref": "ProcessorFailureQueue"}


def test_every_checkov_skip_is_justified_in_the_template_metadata() -> None:
    justified = TEMPLATE["Metadata"]["dicomlens"]["checkovSkips"]
    used = set()
    for resource in RESOURCES.values():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["comment"].strip()
            used.add(skip["id"])
    assert used == set(justified)
    assert all(len(reason) > 40 for reason in justified.values())


# ---------------------------------------------------------------- the design's JSON files


def test_cors_file_matches_the_template() -> None:
    (rule,) = json.loads((INFRA / "s3-cors.json").read_text())["CORSRules"]
    (template_rule,) = props("UploadBucket")["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == template_rule["AllowedMethods"]
    assert rule["AllowedHeaders"] == template_rule["AllowedHeaders"]
    assert rule["ExposeHeaders"] == template_rule["ExposedHeaders"]
    assert rule["MaxAgeSeconds"] == template_rule["MaxAge"]
    assert rule["AllowedOrigins"] == ["${SITE_ORIGIN}"]


def test_notification_file_matches_the_template() -> None:
    notification = json.loads((INFRA / "s3-notification.json").read_text())
    assert set(notification) == {"QueueConfigurations"}
    (config,) = notification["QueueConfigurations"]
    (template_config,) = props("UploadBucket")["NotificationConfiguration"]["QueueConfigurations"]
    assert config["Events"] == [template_config["Event"]]
    assert config["Filter"]["Key"]["FilterRules"] == template_config["Filter"]["S3Key"]["Rules"]
    assert config["QueueArn"].endswith("-process-image")
    assert subbed(props("ProcessingQueue")["QueueName"]).endswith("-process-image")


def test_trust_policy_file_matches_the_template() -> None:
    trust = json.loads((INFRA / "lambda-trust-policy.json").read_text())
    for role in of_type("AWS::IAM::Role"):
        template_trust = props(role)["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == template_trust["Statement"][0]["Principal"]
        assert trust["Statement"][0]["Action"] == template_trust["Statement"][0]["Action"]


IAM_POLICIES = json.loads((INFRA / "iam-policies.json").read_text())


def test_iam_policy_file_has_one_policy_per_function_role() -> None:
    """A function added to the template without its entry in the file fails here."""
    names = {policy_name(role) for role in function_roles().values()}
    assert len(names) == len(function_roles())
    assert set(IAM_POLICIES) == names


def _s3_paths(resource: Any) -> set[str]:
    """The object paths (after the bucket name) an S3 statement names."""
    values = resource if isinstance(resource, list) else [resource]
    return {subbed(v).split(":::", 1)[1].split("/", 1)[1] for v in values}


@pytest.mark.parametrize("role", sorted(set(function_roles().values())))
def test_iam_policy_file_grants_what_the_template_grants(role: str) -> None:
    document = IAM_POLICIES[policy_name(role)]
    in_file = {s["Sid"]: s for s in document["Statement"]}
    in_template = {
        sid: s
        for sid, s in statements(role).items()
        if not sid.startswith(("Encrypt", "Decrypt"))  # the KMS statements: template options
    }
    assert {sid: actions(s) for sid, s in in_file.items()} == {
        sid: actions(s) for sid, s in in_template.items()
    }
    for sid, statement in in_template.items():
        if all(action.startswith("s3:") for action in actions(statement)):
            assert _s3_paths(in_file[sid]["Resource"]) == _s3_paths(statement["Resource"]), sid


# Name limits of the services (characters) and the longest values the names are built from.
_NAME_LIMITS = {
    ("AWS::S3::Bucket", "BucketName"): 63,
    ("AWS::Serverless::Function", "FunctionName"): 64,
    ("AWS::Serverless::LayerVersion", "LayerName"): 140,
    ("AWS::SQS::Queue", "QueueName"): 80,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::CloudFront::OriginAccessControl", "Name"): 64,
}
_LONGEST_REGION = "ap-southeast-1"  # 14 characters, as long as any region name


def _longest(parameter: str) -> str:
    pattern = str(TEMPLATE["Parameters"][parameter]["AllowedPattern"])
    match = re.search(r"\{1,(\d+)\}", pattern)
    assert match, pattern
    return "a" * int(match.group(1))


def test_every_resource_name_fits_its_service_limit_with_the_longest_parameters() -> None:
    values = {
        "${NamePrefix}": _longest("NamePrefix"),
        "${Stage}": _longest("Stage"),
        "${AWS::AccountId}": "123456789012",
        "${AWS::Region}": _LONGEST_REGION,
    }
    checked = 0
    for name, resource in RESOURCES.items():
        properties = resource.get("Properties", {})
        for (type_name, key), limit in _NAME_LIMITS.items():
            value = properties.get("OriginAccessControlConfig", properties).get(key)
            if resource["Type"] != type_name or value is None:
                continue
            built = subbed(value)
            for placeholder, longest in values.items():
                built = built.replace(placeholder, longest)
            assert "${" not in built, (name, built)
            assert len(built) <= limit, f"{name}: {built} has {len(built)} > {limit} characters"
            checked += 1
    assert checked >= 8
