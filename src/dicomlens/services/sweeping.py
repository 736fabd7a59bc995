"""End the jobs nobody will end: abandoned uploads (EXPIRED) and stuck attempts (FAILED).

Run on a schedule (the sweepJobs function on AWS). It asks the :class:`OpenJobIndex` only
for candidates (never reads the whole table) and decides each with the same rules the rest
of the system uses, on a fresh consistent read:

* PENDING past its upload form's expiry plus ``upload_grace_s``: ended through
  :meth:`ResultsService.expire_if_abandoned`, the rule ``GET /jobs/{jobId}`` and the local
  runtime's ``expire_abandoned`` apply (an upload that arrived and waits in the queue is left
  alone).
* PROCESSING whose lease ended more than ``stuck_after_s`` ago (``jobs.processing_overdue``):
  no attempt holds it and no retry claimed it, so it ends FAILED with PROCESSING_TIMEOUT,
  through the conditional ``finish`` (a retry that claims it meanwhile changes the attempt
  count, and the sweeper's write is refused).

A run handles at most ``max_jobs`` of each kind; the next run continues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from itertools import islice

from dicomlens.domain import jobs as job_rules
from dicomlens.domain.errors import ErrorCode
from dicomlens.domain.jobs import JobStatus
from dicomlens.ports import Clock, JobStore, OpenJobIndex
from dicomlens.services.results import ResultsService


@dataclass(frozen=True, kw_only=True)
class SweepReport:
    """What one sweep ended."""

    expired: int = 0
    timed_out: int = 0


class JobSweeper:
    """Ends abandoned and stuck jobs found through the open-jobs index."""

    def __init__(
        self,
        *,
        jobs: JobStore,
        index: OpenJobIndex,
        results: ResultsService,
        clock: Clock,
        upload_grace_s: float,
        stuck_after_s: float,
        max_jobs: int = 500,
    ) -> None:
        self._jobs = jobs
        self._index = index
        self._results = results
        self._clock = clock
        self._grace_s = upload_grace_s
        self._stuck_s = stuck_after_s
        self._max_jobs = max_jobs

    def sweep(self) -> SweepReport:
        """One pass over both kinds of candidates."""
        return SweepReport(expired=self._expire_abandoned(), timed_out=self._fail_stuck())

    def _candidates(self, status: JobStatus, margin_s: float) -> list[str]:
        before = self._clock.now() - timedelta(seconds=margin_s)
        return list(islice(self._index.open_job_ids(status, open_before=before), self._max_jobs))

    def _expire_abandoned(self) -> int:
        expired = 0
        for job_id in self._candidates(JobStatus.PENDING, self._grace_s):
            job = self._jobs.get(job_id)
            if job is not None and job.status is JobStatus.PENDING:
                ended = self._results.expire_if_abandoned(job)
                expired += ended.status is JobStatus.EXPIRED
        return expired

    def _fail_stuck(self) -> int:
        timed_out = 0
        for job_id in self._candidates(JobStatus.PROCESSING, self._stuck_s):
            job = self._jobs.get(job_id)
            now = self._clock.now()
            if job is None or not job_rules.processing_overdue(
                job, now=now, margin_s=self._stuck_s
            ):
                continue
            failed = job_rules.fail(
                job,
                code=str(ErrorCode.PROCESSING_TIMEOUT),
                message="the analysis did not finish: every attempt stopped or timed out",
                now=now,
            )
            timed_out += self._jobs.finish(failed)
        return timed_out
