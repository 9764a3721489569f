"""Backfills: plan them (also for the plan endpoint and catch-up), split them into chunks and
lanes for the workflows, estimate their cost, and start their Workflows execution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from dayflow.backfill_plan import BackfillPlan, plan_backfill
from dayflow.errors import UserError
from dayflow.executions import BACKFILL_WORKFLOW, ExecutionInfo, Executions
from dayflow.partition_bounds import (
    DEFAULT_MAX_RANGE_PARTITIONS,
    check_partition_keys,
    check_partition_range,
)
from dayflow.partitions import PartitionKeyRange
from dayflow.planning import Only, PartitionPlan, plan_partitions
from dayflow.spec import BigQuerySqlJob, DedupJob, Pipeline
from job_runner.domain.runner import JobRunner, Partition

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
    chunk_size: int | None = None
    job_seconds: float | None = None
    include_upstream: bool = False


def plan_runs(
    runner: JobRunner,
    pipeline_name: str,
    *,
    start: str | None = None,
    end: str | None = None,
    keys: list[str] | None = None,
    order: Literal["asc", "desc"] = "asc",
    only: Only = "all",
    max_partitions: int = DEFAULT_MAX_RANGE_PARTITIONS,
) -> tuple[Pipeline, list[PartitionPlan]]:
    """Plan a range (or a list of keys), reading the ledger for only=failed|missing.

    The range or keys are checked first (format, the pipeline's bounds, `max_partitions`)."""
    pipeline = runner.get_pipeline(pipeline_name)
    if keys is not None:
        check_partition_keys(pipeline_name, pipeline, keys, max_partitions)
    elif start is not None and end is not None:
        check_partition_range(
            pipeline_name, pipeline, PartitionKeyRange(start, end), max_partitions
        )
    else:
        raise UserError("a plan needs start and end, or partition_keys")
    try:
        if keys is not None:
            ordered = sorted(keys)
            key_range = PartitionKeyRange(ordered[0], ordered[-1]) if ordered else None
        else:
            assert start is not None and end is not None
            key_range = PartitionKeyRange(start, end)
        statuses: dict[tuple[str, str], str] = {}
        if only != "all" and key_range is not None:
            states = runner.ledger.get_states(
                pipeline_name,
                date.fromisoformat(key_range.start[:10]),
                date.fromisoformat(key_range.end[:10]),
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


def plan_chunks(
    runner: JobRunner,
    request: BackfillRequest,
    max_partitions: int = DEFAULT_MAX_RANGE_PARTITIONS,
) -> tuple[Pipeline, BackfillPlan]:
    """Plan a backfill request (see `plan_runs`) and split it into chunks and lanes."""
    pipeline, plans = plan_runs(
        runner,
        request.pipeline,
        start=request.start,
        end=request.end,
        keys=request.partition_keys,
        order=request.order,
        only=request.only,
        max_partitions=max_partitions,
    )
    if request.partition_keys is not None:
        asked = sorted(set(request.partition_keys), reverse=request.order == "desc")
    elif request.only == "all":
        asked = [p.partition_key for p in plans]
    else:
        assert request.start is not None and request.end is not None
        asked = pipeline.scheme.get_partition_keys(
            PartitionKeyRange(request.start, request.end), request.order
        )
    backfill = plan_backfill(
        plans,
        asked,
        concurrency=request.concurrency,
        chunk_size=request.chunk_size,
        jobs_per_partition=len(pipeline.jobs),
    )
    return pipeline, backfill


def get_chunk_request(request: BackfillRequest, chunk: tuple[PartitionPlan, ...]) -> dict[str, Any]:
    """The POST /backfills/plan body with which a chunk's child execution plans its waves: the
    chunk's key bounds (a range), or its keys (a key list)."""
    body: dict[str, Any] = {
        "pipeline": request.pipeline,
        "order": request.order,
        "only": request.only,
        "waves": True,
    }
    keys = [p.partition_key for p in chunk]
    if request.partition_keys is not None:
        body["partition_keys"] = keys
    else:
        body.update(start=min(keys), end=max(keys))
    return body


def estimate(runner: JobRunner, pipeline: Pipeline, backfill: BackfillPlan) -> dict[str, Any]:
    """Billed Workflows steps and BigQuery bytes that a backfill would cost (bytes: see
    `_dry_run_bytes`)."""
    plans = list(backfill.partitions)
    steps = backfill.get_estimated_steps()
    bytes_processed: int | None = 0
    if plans:
        bytes_processed = _dry_run_bytes(runner, pipeline, plans)
    return {
        "num_partitions": len(plans),
        "num_partition_jobs": backfill.num_partition_jobs,
        "num_chunks": len(backfill.chunks),
        "num_lanes": len(backfill.lanes),
        "skipped": len(backfill.skipped_keys),
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
    if request.chunk_size is not None:
        argument["chunk_size"] = request.chunk_size
    if request.include_upstream:
        argument["include_upstream"] = True
    if request.partition_keys is not None:
        argument["partition_keys"] = request.partition_keys
    else:
        argument.update(start=request.start, end=request.end)
    return executions.start(BACKFILL_WORKFLOW, argument)
