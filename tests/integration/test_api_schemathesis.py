"""Property-based requests from the served OpenAPI document: no request yields a 5xx."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from local_server import running
from schemathesis.checks import not_a_server_error

EXAMPLES_PER_OPERATION = 50


def test_no_generated_request_is_a_server_error(tmp_path: Path) -> None:
    with running(tmp_path / "data") as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {"/uploads", "/jobs/{jobId}"}
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def no_server_error(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=server.url, checks=[not_a_server_error])

            no_server_error()
