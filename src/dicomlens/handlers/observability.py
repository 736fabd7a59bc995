"""Logger, tracer and metrics of every Lambda function, created once with the service name.

Each handler decorates its entry point with these (``inject_lambda_context`` with
``clear_state=True``, so no key of one invocation, such as its ``jobId``, is left on the
next's lines; ``capture_lambda_handler``, ``log_metrics``); logs never carry a file name or
any value read from a file, only job ids, outcomes and error codes.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

SERVICE = "dicomlens"
METRICS_NAMESPACE = "dicomlens"

logger = Logger(service=SERVICE)
# X-Ray subsegments for the AWS calls (botocore) only: patching every library X-Ray knows
# imports and wraps each one (sqlite3, http.client ...) on every cold start for nothing.
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


def count(name: str, value: int = 1) -> None:
    """Add ``value`` to the metric ``name`` (skipped when metrics are disabled: Powertools
    would otherwise keep every value in memory and print them every 100)."""
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def use_own_service(logger_name: str, service: str) -> None:
    """Log the records of the standard logger ``logger_name`` as JSON lines of ``service``.

    Without this they reach the functions' logger (a parent by name) and carry its service
    name and whatever keys the last invocation in the process appended.
    """
    own = Logger(service=service)
    target = logging.getLogger(logger_name)
    target.handlers = [own.registered_handler]
    target.propagate = False
