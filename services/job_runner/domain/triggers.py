"""Scheduled triggers: start `run_partition` for the partition a schedule time processes,
exactly once, however often and however concurrently Cloud Scheduler delivers it.

Cloud Scheduler delivers at least once and retries a failed delivery with the same
`X-CloudScheduler-ScheduleTime`. The start is claimed per partition (two schedule times that
map to one partition start one run) with BigQuery jobs as atomic markers: job ids are unique
per project, so creating a free `SELECT 1` job under a chosen id succeeds for exactly one
caller and answers 409 to every other.

- `<base>_c<k>`: start attempt k is claimed; only its holder calls the Executions API.
- `<base>_c<k>_failed`: attempt k failed to start; the next delivery may claim attempt k+1.

A delivery that finds attempt k claimed and neither failed nor expired is a duplicate (the
start succeeded, or is under way). A claim whose holder died between claiming and recording
its outcome expires after `CLAIM_LEASE`, so even then a later delivery starts the run. The
one case left that can start twice: a holder that started the execution and died before
answering, with a retry arriving after the lease.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dayflow.errors import UnavailableError, UserError
from dayflow.executions import RUN_PARTITION_WORKFLOW, Executions, new_backfill_id
from dayflow.partition_bounds import DEFAULT_MAX_RANGE_PARTITIONS, parse_schedule_time
from dayflow.spec import Pipeline
from dayflow.warehouse import classify_error
from job_runner.domain.backfills import BackfillRequest, plan_runs, start_backfill
from job_runner.domain.runner import JobRunner

logger = logging.getLogger(__name__)

# Longer than a start can take (WorkflowsExecutions.start times out after 60 s).
CLAIM_LEASE = timedelta(minutes=5)
# Deliveries whose start failed, one after the other, before we stop trying.
MAX_START_ATTEMPTS = 50


_locks_lock = threading.Lock()
_locks: dict[str, threading.Lock] = {}


def _lock_for(job_id: str) -> threading.Lock:
    with _locks_lock:
        if len(_locks) > 10_000:  # one per partition claimed since start: bound the memory
            _locks.clear()
        return _locks.setdefault(job_id, threading.Lock())


@dataclass(frozen=True)
class TriggerOutcome:
    pipeline: str
    schedule_time: str
    partition_key: str
    duplicate: bool
    execution: str | None
    catch_up_execution: str | None


class StartClaims:
    """The start claims of one pipeline's partition (see the module docstring)."""

    def __init__(self, runner: JobRunner, pipeline: str, partition_key: str) -> None:
        self.client = runner.client
        namespace = f"{runner.project}/{runner.environment.dataset_prefix}"
        space = hashlib.sha256(namespace.encode()).hexdigest()[:8]
        compact = partition_key.replace("-", "").replace("T", "h")
        self.base = f"dayflow_trigger_{pipeline}_{compact}_{space}"

    def create(self, job_id: str) -> bool:
        """Create marker `job_id`: True if this call created it, False if it existed."""
        # BigQuery's job-id uniqueness is the guarantee across instances. Within one instance,
        # creates of one marker also take turns: local-bigquery does not always enforce that
        # uniqueness under concurrent inserts (two of twenty racing creates both succeeded).
        with _lock_for(job_id):
            return self._create(job_id)

    def _create(self, job_id: str) -> bool:
        from google.api_core.exceptions import Conflict

        try:
            self.client.query("SELECT 1", job_id=job_id, job_retry=None).result()
        except Conflict:
            return False
        except Exception as err:
            # Another caller's create may have won in a way that is not a 409 (local-bigquery
            # sometimes answers 400 "Duplicate key" under concurrency; BigQuery may answer 5xx
            # for an insert that did land). If the marker exists, we did not create it; if we
            # did after all, its lease expires and a later delivery starts the run.
            if self.get_created(job_id) is not None:
                return False
            raise classify_error(err, job_id) from err
        return True

    def get_created(self, job_id: str) -> datetime | None:
        """When marker `job_id` was created, or None if it does not exist."""
        from google.api_core.exceptions import NotFound

        try:
            job = self.client.get_job(job_id)
        except NotFound:
            return None
        except Exception as err:
            raise classify_error(err, job_id) from err
        return job.created or datetime.now(UTC)

    def is_released(self, attempt: int, now: datetime) -> bool:
        """Whether claimed attempt `attempt` failed, or its holder's lease ran out."""
        claim = f"{self.base}_c{attempt}"
        if self.get_created(f"{claim}_failed") is not None:
            return True
        created = self.get_created(claim)
        return created is not None and now - created > CLAIM_LEASE


def trigger(
    runner: JobRunner,
    executions: Executions,
    pipeline_name: str,
    schedule_time_header: str | None,
    max_partitions: int = DEFAULT_MAX_RANGE_PARTITIONS,
) -> TriggerOutcome:
    """Start `run_partition` for the partition a schedule time processes, once per partition."""
    pipeline = runner.get_pipeline(pipeline_name)
    if not schedule_time_header:
        raise UserError(
            "header X-CloudScheduler-ScheduleTime is missing "
            "(expected an RFC 3339 time, as Cloud Scheduler sends)"
        )
    _, key = parse_schedule_time(pipeline_name, pipeline, schedule_time_header)
    duplicate = TriggerOutcome(pipeline_name, schedule_time_header, key, True, None, None)
    claims = StartClaims(runner, pipeline_name, key)
    for attempt in range(1, MAX_START_ATTEMPTS + 1):
        claim = f"{claims.base}_c{attempt}"
        if not claims.create(claim):
            if claims.is_released(attempt, datetime.now(UTC)):
                continue
            return duplicate
        try:
            execution = executions.start(
                RUN_PARTITION_WORKFLOW, {"pipeline": pipeline_name, "partition_key": key}
            )
        except Exception:
            _release(claims, claim)
            raise
        try:
            catch_up = _start_catch_up(
                runner, executions, pipeline_name, pipeline, key, max_partitions
            )
        except Exception:
            # The partition's run started: answer 200 so Scheduler does not retry; the next
            # schedule's catch-up covers this window again.
            logger.exception("catch-up before partition %s of %s did not start", key, pipeline_name)
            catch_up = None
        return TriggerOutcome(
            pipeline_name, schedule_time_header, key, False, execution.name, catch_up
        )
    raise UnavailableError(
        f"{MAX_START_ATTEMPTS} attempts to start partition {key!r} of {pipeline_name!r} failed "
        "(expected Workflows to accept one: check the job-runner's log)"
    )


def _release(claims: StartClaims, claim: str) -> None:
    """Mark a failed start, so the next delivery tries again at once (else after the lease)."""
    try:
        claims.create(f"{claim}_failed")
    except Exception:
        logger.exception("could not record the failed start %s; it expires with its lease", claim)


def _start_catch_up(
    runner: JobRunner,
    executions: Executions,
    name: str,
    pipeline: Pipeline,
    key: str,
    max_partitions: int,
) -> str | None:
    """With catch-up on, backfill the missing partitions in the window before `key`."""
    window = pipeline.catch_up.window
    if not pipeline.catch_up.enabled or window == 0 or key <= pipeline.start:
        return None
    scheme = pipeline.scheme
    start = max(scheme.get_previous_key(key, window), pipeline.start)
    end = scheme.get_previous_key(key, 1)
    request = BackfillRequest(name, start, end, None, "asc", "missing", 4, False)
    _, plans = plan_runs(
        runner, name, start=start, end=end, only="missing", max_partitions=max_partitions
    )
    if not plans:
        return None
    return start_backfill(executions, request, new_backfill_id(name)).name
