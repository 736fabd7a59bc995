"""The sweepJobs function (an EventBridge schedule, every few minutes): ends abandoned
uploads EXPIRED and stuck attempts FAILED with PROCESSING_TIMEOUT (see
:mod:`dicomlens.services.sweeping`). Imports no imaging stack: a cheap, short function.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dicomlens import bootstrap
from dicomlens.handlers.observability import count, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """One sweep; how many jobs it ended of each kind."""
    del event
    report = bootstrap.get_services().sweeper.sweep()
    count("JobsExpired", report.expired)
    count("JobsTimedOut", report.timed_out)
    logger.info("jobs swept", extra={"expired": report.expired, "timedOut": report.timed_out})
    return {"expired": report.expired, "timedOut": report.timed_out}


bootstrap.build_during_lambda_init(__name__, build=("sweeper",))
