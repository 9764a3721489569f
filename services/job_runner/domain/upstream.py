"""Waiting for upstream partitions: a run whose job depends on jobs of other pipelines starts
only once every upstream partition it maps to (`dayflow.partition_mapping`) last succeeded.

Before an attempt starts, `UpstreamGate.check` reads the run ledger's newest state of each
upstream (pipeline, job, partition_key). If any has not succeeded, the attempt does not run: it
is recorded `waiting` (one ledger row, `error` naming the missing partitions, `details` listing
them) and `UpstreamNotReadyError` is raised (HTTP 409, `error_kind: waiting`). `waiting` is not
a failure: plans' only=failed leave it, status grids show it as such, backfill progress counts
it as in progress.

A waiting attempt keeps its number: the next request re-checks it, and runs it once the upstream
is in. A caller that waits (a Workflows execution: its `request_key`) polls again after
`retry_after` (the pipeline's `upstream_wait.poll_seconds`) until `upstream_wait.timeout_seconds`
after its first waiting answer: the deadline is stored as the waiting row's `lease_expires_at`
(a waiting run holds no lease; it is never stale). A poll after the deadline records the attempt
`failed` (permanent) naming what is still missing, and raises `UpstreamTimeoutError` (422). A
request with another key (or none, as `dayflow run` sends) starts a new wait.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dayflow.errors import UpstreamNotReadyError, UpstreamTimeoutError
from dayflow.ledger import RunRecord, RunState, get_run_id
from dayflow.spec_dependencies import get_upstream_jobs

if TYPE_CHECKING:
    from datetime import date

    from job_runner.domain.lifecycle import RunRequest
    from job_runner.domain.runner import JobRunner

# Missing partitions named in a message (the `missing` list has them all).
MAX_NAMED = 30


class UpstreamGate:
    """Checks a run's upstream partitions in the ledger before it starts."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner

    def find_missing(self, pipeline: str, job: str, partition_key: str) -> list[dict[str, str]]:
        """Each upstream partition of the run whose newest state is not `succeeded`:
        {pipeline, job, partition_key, status} (status `never ran` when it has no row)."""
        missing: list[dict[str, str]] = []
        for upstream in get_upstream_jobs(self.runner.spec, pipeline, job):
            keys = upstream.mapping.get_upstream_keys(partition_key)
            if not keys:
                continue
            scheme = upstream.mapping.upstream
            states = self.runner.ledger.get_states(
                upstream.pipeline_name,
                scheme.get_partition_date(keys[0]),
                scheme.get_partition_date(keys[-1]),
            )
            newest = {s.partition_key: s.status for s in states if s.job == upstream.job_name}
            missing += [
                {
                    "pipeline": upstream.pipeline_name,
                    "job": upstream.job_name,
                    "partition_key": key,
                    "status": newest.get(key, "never ran"),
                }
                for key in keys
                if newest.get(key) != "succeeded"
            ]
        return missing

    def check(self, request: RunRequest, attempt: int, day: date, attempts: list[RunState]) -> None:
        """Return if the run may start; else record it waiting (or, past its deadline, failed)
        and raise. `attempts` are the ledger's newest states per attempt, newest first."""
        pipeline = self.runner.spec.get_pipeline(request.pipeline)
        if not pipeline.jobs[request.job].get_pipeline_dependencies():
            return
        missing = self.find_missing(request.pipeline, request.job, request.partition_key)
        if not missing:
            return
        now = self.runner.now()
        wait = pipeline.upstream_wait
        previous = next((s for s in attempts if s.attempt == attempt), None)
        # The same caller polling again keeps the deadline of its first waiting answer.
        deadline = now + timedelta(seconds=wait.timeout_seconds)
        if (
            previous is not None
            and previous.status == "waiting"
            and request.request_key is not None
            and previous.request_key == request.request_key
            and previous.lease_expires_at is not None
        ):
            deadline = previous.lease_expires_at
            timed_out = now >= deadline
        else:
            timed_out = False
        run_id = get_run_id(request.pipeline, request.job, request.partition_key, attempt)
        what = describe_missing(missing)
        if timed_out:
            message = (
                f"run {run_id} waited {wait.timeout_seconds} s (upstream_wait.timeout_seconds) "
                f"for its upstream partitions; still {what}"
            )
            self._record(request, attempt, day, "failed", now, message, missing, None)
            raise UpstreamTimeoutError(message)
        message = f"run {run_id} is waiting: {what}"
        self._record(request, attempt, day, "waiting", now, message, missing, deadline)
        remaining = (deadline - now).total_seconds()
        raise UpstreamNotReadyError(
            message,
            run_id=run_id,
            missing=missing,
            retry_after=max(1, min(wait.poll_seconds, math.ceil(remaining))),
        )

    def _record(
        self,
        request: RunRequest,
        attempt: int,
        day: date,
        status: str,
        now: datetime,
        message: str,
        missing: list[dict[str, str]],
        deadline: datetime | None,
    ) -> None:
        self.runner.ledger.record(
            RunRecord(
                pipeline=request.pipeline,
                job=request.job,
                partition_key=request.partition_key,
                partition_date=day,
                attempt=attempt,
                status="waiting" if status == "waiting" else "failed",
                backfill_id=request.backfill_id,
                error=message,
                error_kind="permanent" if status == "failed" else None,
                details=[dict(m) for m in missing],
                recorded_at=now,
                lease_expires_at=deadline,
                request_key=request.request_key,
            )
        )


def describe_missing(missing: list[dict[str, str]]) -> str:
    """`3 upstream partition(s) not succeeded: meter_hourly.readings 2024-03-10T05 (never
    ran), ...`, naming at most MAX_NAMED of them."""
    named = [
        f"{m['pipeline']}.{m['job']} {m['partition_key']} ({m['status']})"
        for m in missing[:MAX_NAMED]
    ]
    more = f", and {len(missing) - MAX_NAMED} more" if len(missing) > MAX_NAMED else ""
    return f"{len(missing)} upstream partition(s) not succeeded: {', '.join(named)}{more}"
