"""The template's InstanceIndexTable is protected like the job table and names the indexes
the DynamoDB adapter queries (the contract suite creates its table from this definition)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dicomlens.adapters.aws.dynamodb_index import (
    BY_ACCESSION_INDEX,
    BY_DATE_INDEX,
    BY_PATIENT_INDEX,
)
from dicomlens.local.routes import load_template

TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "infra" / "template.yaml")


def test_the_index_table_is_encrypted_recoverable_and_kept_like_the_job_table() -> None:
    jobs: dict[str, Any] = TEMPLATE["Resources"]["ResultsTable"]
    index: dict[str, Any] = TEMPLATE["Resources"]["InstanceIndexTable"]
    for setting in ("DeletionPolicy", "UpdateReplacePolicy"):
        assert index[setting] == jobs[setting]
    for name in (
        "BillingMode",
        "SSESpecification",
        "PointInTimeRecoverySpecification",
        "DeletionProtectionEnabled",
    ):
        assert index["Properties"][name] == jobs["Properties"][name], name
    outputs = TEMPLATE["Outputs"]
    assert outputs["InstanceIndexTableName"]["Value"] == {"Ref": "InstanceIndexTable"}


def test_the_index_table_has_the_adapters_gsis_over_defined_string_keys() -> None:
    table = TEMPLATE["Resources"]["InstanceIndexTable"]["Properties"]
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {BY_DATE_INDEX, BY_PATIENT_INDEX, BY_ACCESSION_INDEX}
    assert indexes[BY_DATE_INDEX]["Projection"] == {"ProjectionType": "ALL"}
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    keys = {k["AttributeName"] for i in indexes.values() for k in i["KeySchema"]}
    keys |= {k["AttributeName"] for k in table["KeySchema"]}
    assert types == dict.fromkeys(keys, "S")
