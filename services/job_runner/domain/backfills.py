"""Scheduled triggers and manual backfills: plan them, then start Workflows executions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from dayflow.errors import UserError
from dayflow.executions import (
    BACKFILL_WORKFLOW,
    RUN_PARTITION_WORKFLOW,
    ExecutionInfo,
    Executions,
    new_backfill_id,
)
from dayflow.partitions import PartitionKeyRange, parse_timestamp
from dayflow.planning import Only, PartitionPlan, plan_partitions
from dayflow.spec import BigQuerySqlJob, DedupJob, Pipeline
from dayflow.warehouse import classify_error
from job_runner.domain.runner import JobRunner, Partition

# Billed Workflows steps, measured by bench/backfill.py on workflows/backfill.workflows.yaml.
STEPS_PER_PARTITION_JOB = 6
STEPS_PER_PARTITION = 4
WORKFLOWS_USD_PER_STEP = 0.01 / 1000  # internal steps, first 5,000/month free


@dataclass(frozen=True)
class BackfillRequest:
    pipeline: str
    start: str | None
    end: str | None
    partition_keys: list[str] | None
    order: Literal["asc", "desc"]
    only: Only
    concurrency: int
    dry_run: bool


def plan_runs(
    runner: JobRunner,
    pipeline_name: str,
    *,
    start: str | None = None,
    end: str | None = None,
    keys: list[str] | None = None,
    order: Literal["asc", "desc"] = "asc",
    only: Only = "all",
) -> tuple[Pipeline, list[PartitionPlan]]:
    """Plan a range (or a list of keys), reading the ledger for only=failed|missing."""
    pipeline = runner.get_pipeline(pipeline_name)
    scheme = pipeline.scheme
    try:
        if keys is not None:
            ordered = sorted(keys)
            key_range = PartitionKeyRange(ordered[0], ordered[-1]) if ordered else None
        elif start is not None and end is not None:
            key_range = scheme.validate_range(PartitionKeyRange(start, end))
        else:
            raise UserError("a plan needs start and end, or partition_keys")
        statuses: dict[tuple[str, str], str] = {}
        if only != "all" and key_range is not None:
            states = runner.ledger.get_states(
                pipeline_name,
                scheme.get_partition_date(key_range.start),
                scheme.get_partition_date(key_range.end),
            )
            statuses = {(s.partition_key, s.job): s.status for s in states}
        plans = plan_partitions(
            pipeline,
            None if keys is not None else key_range,
            keys=keys,
            order=order,
            only=only,
            statuses=statuses,
        )
    except ValueError as err:
        raise UserError(str(err)) from None
    return pipeline, plans


def estimate(runner: JobRunner, pipeline: Pipeline, plans: list[PartitionPlan]) -> dict[str, Any]:
    """Billed Workflows steps and BigQuery bytes that a backfill would cost (bytes: see
    `_dry_run_bytes`)."""
    partition_jobs = sum(p.num_jobs for p in plans)
    steps = partition_jobs * STEPS_PER_PARTITION_JOB + len(plans) * STEPS_PER_PARTITION
    bytes_processed: int | None = 0
    if plans:
        bytes_processed = _dry_run_bytes(runner, pipeline, plans)
    return {
        "num_partitions": len(plans),
        "num_partition_jobs": partition_jobs,
        "estimated_workflow_steps": steps,
        "estimated_workflow_cost_usd": round(steps * WORKFLOWS_USD_PER_STEP, 4),
        "estimated_bytes_processed": bytes_processed,
    }


def _dry_run_bytes(runner: JobRunner, pipeline: Pipeline, plans: list[PartitionPlan]) -> int | None:
    """Bytes the SELECTs of the SQL and dedup jobs read, over all the partitions.

    A run evaluates each SELECT once (the replace script materializes it in a temp table), so
    the dry run of the SELECT is what it bills for its sources. The SELECT is dry-run on the
    first and the last partition and their mean counted for every partition: what a partition
    reads can grow with its distance from now (a dedup job without a lateness bound). Not
    counted: the replace script's reads of its temp table and the DELETE of the old partition,
    both the size of the partition written, which no dry run can know (BigQuery does not dry-run
    CREATE TEMP TABLE: https://cloud.google.com/bigquery/docs/multi-statement-queries).
    """
    from google.cloud import bigquery

    ends = [plans[0], plans[-1]] if len(plans) > 1 else [plans[0]]
    names = {j for plan in ends for wave in plan.waves for j in wave}
    total = 0
    for name in sorted(names):
        job = pipeline.jobs[name]
        if not isinstance(job, BigQuerySqlJob | DedupJob):
            continue
        sql = runner.get_select_sql(job)
        read = 0
        for plan in ends:
            params = Partition(plan.partition_key, pipeline.scheme).get_query_parameters()
            config = bigquery.QueryJobConfig(
                query_parameters=params, dry_run=True, use_query_cache=False
            )
            try:
                read += int(runner.client.query(sql, job_config=config).total_bytes_processed or 0)
            except Exception:
                return None  # e.g. a job reading a table an earlier job creates: no estimate
        total += read * len(plans) // len(ends)
    return total


def start_backfill(
    executions: Executions, request: BackfillRequest, backfill_id: str
) -> ExecutionInfo:
    argument: dict[str, Any] = {
        "pipeline": request.pipeline,
        "order": request.order,
        "only": request.only,
        "concurrency": request.concurrency,
        "dry_run": False,
        "backfill_id": backfill_id,
    }
    if request.partition_keys is not None:
        argument["partition_keys"] = request.partition_keys
    else:
        argument.update(start=request.start, end=request.end)
    return executions.start(BACKFILL_WORKFLOW, argument)


def claim_schedule_time(runner: JobRunner, pipeline: str, schedule_time: datetime) -> bool:
    """True the first time a (pipeline, schedule time) is seen, False for a duplicate delivery.

    Cloud Scheduler delivers at least once. BigQuery job ids are unique per project, so creating
    a free `SELECT 1` job with an id derived from the schedule time is an atomic claim.
    """
    from google.api_core.exceptions import Conflict

    job_id = f"dayflow_trigger_{pipeline}_{int(schedule_time.timestamp())}"
    try:
        runner.client.query("SELECT 1", job_id=job_id, job_retry=None).result()
    except Conflict:
        return False
    except Exception as err:
        raise classify_error(err, job_id) from err
    return True


@dataclass(frozen=True)
class TriggerOutcome:
    pipeline: str
    schedule_time: str
    partition_key: str
    duplicate: bool
    execution: str | None
    catch_up_execution: str | None


def trigger(
    runner: JobRunner, executions: Executions, pipeline_name: str, schedule_time_header: str | None
) -> TriggerOutcome:
    """Start `run_partition` for the partition a schedule time processes, once per time."""
    pipeline = runner.get_pipeline(pipeline_name)
    if not schedule_time_header:
        raise UserError(
            "header X-CloudScheduler-ScheduleTime is missing "
            "(expected an RFC 3339 time, as Cloud Scheduler sends)"
        )
    try:
        schedule_time = parse_timestamp(schedule_time_header)
    except ValueError as err:
        raise UserError(str(err)) from None
    key = pipeline.scheme.get_partition_key_for_schedule_time(schedule_time, pipeline.lag)
    outcome = TriggerOutcome(pipeline_name, schedule_time_header, key, True, None, None)
    if not claim_schedule_time(runner, pipeline_name, schedule_time):
        return outcome
    execution = executions.start(
        RUN_PARTITION_WORKFLOW, {"pipeline": pipeline_name, "partition_key": key}
    )
    catch_up = _start_catch_up(runner, executions, pipeline_name, pipeline, key)
    return TriggerOutcome(pipeline_name, schedule_time_header, key, False, execution.name, catch_up)


def _start_catch_up(
    runner: JobRunner, executions: Executions, name: str, pipeline: Pipeline, key: str
) -> str | None:
    """With catch-up on, backfill the missing partitions in the window before `key`."""
    window = pipeline.catch_up.window
    if not pipeline.catch_up.enabled or window == 0 or key <= pipeline.start:
        return None
    scheme = pipeline.scheme
    start = max(scheme.get_previous_key(key, window), pipeline.start)
    end = scheme.get_previous_key(key, 1)
    request = BackfillRequest(name, start, end, None, "asc", "missing", 4, False)
    _, plans = plan_runs(runner, name, start=start, end=end, only="missing")
    if not plans:
        return None
    return start_backfill(executions, request, new_backfill_id(name)).name
