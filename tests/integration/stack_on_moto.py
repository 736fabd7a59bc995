"""Create the packaged stack on a moto server, as CloudFormation would from ``sam deploy``.

``sam deploy`` itself cannot run against moto (FACTS.md: CreateChangeSet fails on moto's
reading of SAM's path-style template URL, and moto does not run the SAM transform), so the
packaged template is transformed with SAM's own translator (from the aws-sam-cli tool
environment) and created with CreateStack, moto's CloudFormation holding stand-ins for the
types it lacks (``moto_cfn.standins``). What the stack then holds (names, function
environments resolved from the template's parameters and references) is what the Lambda
flow runs against.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from aws_support import REGION

TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    def load(self):
        return {}


template = yaml_parse(open(sys.argv[1]).read())
print(json.dumps(transform(template, {}, NoManagedPolicies())))
"""
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True, kw_only=True)
class DeployedStack:
    """A created stack: its outputs, and per function (by logical id) its configuration."""

    name: str
    outputs: dict[str, str]
    functions: dict[str, dict[str, Any]]  # logical id -> GetFunctionConfiguration
    resources: dict[str, str]  # logical id -> resource type


def translate(packaged_template: Path, sam_python: Path) -> dict[str, Any]:
    """The packaged SAM template as plain CloudFormation (SAM's translator)."""
    result = subprocess.run(
        [str(sam_python), "-c", TRANSLATE, str(packaged_template)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": REGION},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    translated: dict[str, Any] = json.loads(result.stdout)
    return translated


def create_stack(
    template: dict[str, Any], endpoint: str, *, name: str, parameters: dict[str, str]
) -> DeployedStack:
    """Create ``template`` as stack ``name`` on the moto server at ``endpoint`` (its
    stand-ins registered in this process); the stack as created."""
    from moto_cfn.standins import register

    register()
    session = boto3.session.Session(region_name=REGION, **CREDENTIALS)
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    listed = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
    lambdas = session.client("lambda", endpoint_url=endpoint)
    functions = {
        resource["LogicalResourceId"]: lambdas.get_function_configuration(
            FunctionName=resource["PhysicalResourceId"]
        )
        for resource in listed
        if resource["ResourceType"] == "AWS::Lambda::Function"
    }
    return DeployedStack(
        name=name,
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        functions=functions,
        resources={r["LogicalResourceId"]: r["ResourceType"] for r in listed},
    )
