"""The HTTP route table, derived from the SAM template as SAM's local runner does.

Every ``AWS::Serverless::Function`` with ``HttpApi`` events contributes ``(method, path)``
routes to its ``Handler``. CloudFormation short tags (``!Ref``, ``!Sub``, ``!GetAtt`` ...)
are read as plain values: the table needs only literal methods, paths and handler names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dicomlens import assets
from dicomlens.domain.errors import DicomlensError, ErrorCode

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Route:
    """One HTTP API route: ``method`` (or ``ANY``) and ``path`` to a function's handler."""

    method: str
    path: str
    function: str
    handler: str
    memory_mb: int = 128

    @property
    def route_key(self) -> str:
        """API Gateway's ``routeKey`` (``"GET /jobs/{jobId}"``)."""
        return f"{self.method} {self.path}"

    def starlette_path(self) -> str:
        """The path in Starlette's syntax (``{proxy+}`` becomes ``{proxy:path}``)."""
        return self.path.replace("+}", ":path}")


class _CfnLoader(yaml.SafeLoader):
    """A safe loader that accepts CloudFormation's short-form intrinsic functions."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """The template at ``path`` as plain data."""
    data = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise DicomlensError(ErrorCode.VALIDATION_ERROR, f"{path} is not a template")
    return data


def http_routes(template: dict[str, Any]) -> list[Route]:
    """Every HttpApi route of every serverless function in ``template``."""
    routes: list[Route] = []
    default_memory = ((template.get("Globals") or {}).get("Function") or {}).get("MemorySize", 128)
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties") or {}
        handler = properties.get("Handler")
        memory = properties.get("MemorySize", default_memory)
        for event in (properties.get("Events") or {}).values():
            if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                continue
            event_properties = event.get("Properties") or {}
            method = str(event_properties.get("Method", "ANY")).upper()
            path = event_properties.get("Path")
            if not isinstance(path, str) or not isinstance(handler, str):
                continue
            routes.append(
                Route(
                    method=method,
                    path=path,
                    function=logical_id,
                    handler=handler,
                    memory_mb=memory if isinstance(memory, int) else 128,
                )
            )
    return routes


def function_handlers(template: dict[str, Any]) -> dict[str, str]:
    """Every serverless function's handler, by logical id."""
    handlers = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function":
            handler = (resource.get("Properties") or {}).get("Handler")
            if isinstance(handler, str):
                handlers[logical_id] = handler
    return handlers


def import_handler(dotted: str) -> Handler:
    """The function a template's ``Handler`` names (``package.module.function``)."""
    module_name, _, attribute = dotted.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler


def default_template_path() -> Path:
    """The SAM template shipped with this package (``infra/template.yaml``)."""
    return assets.sam_template()
