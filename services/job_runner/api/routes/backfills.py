"""Scheduled triggers (Cloud Scheduler, OIDC) and manual backfills over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from dayflow.errors import NotFoundError
from dayflow.executions import new_backfill_id
from dayflow.ledger import FAILED_STATUSES
from job_runner.api.deps import ExecutionsFactoryDep, RunnerDep, SettingsDep
from job_runner.api.params import BackfillIdPath, PipelinePath
from job_runner.domain import backfills, triggers
from job_runner.models import (
    BackfillCreate,
    BackfillProgressPublic,
    BackfillPublic,
    PartitionPlanPublic,
    TriggerPublic,
    error_responses,
)

router = APIRouter(tags=["backfills"])

# A dry run lists at most this many partitions; the counts cover all of them.
MAX_LISTED_PARTITIONS = 1000

ScheduleTimeHeader = Annotated[
    str | None,
    Header(
        max_length=64,
        description="RFC 3339, as Cloud Scheduler sends it; at most 15 minutes after now, and "
        "processing a partition from the pipeline's start",
    ),
]


@router.post("/triggers/{pipeline}", responses=error_responses(404, 422, 503))
def create_trigger(
    pipeline: PipelinePath,
    runner: RunnerDep,
    executions: ExecutionsFactoryDep,
    settings: SettingsDep,
    x_cloudscheduler_scheduletime: ScheduleTimeHeader = None,
) -> TriggerPublic:
    """Start the partition a schedule time processes, once per partition: a duplicate or
    concurrent delivery starts nothing (200, `duplicate: true`), and a delivery after a failed
    start starts it."""
    outcome = triggers.trigger(
        runner,
        executions(),
        pipeline,
        x_cloudscheduler_scheduletime,
        settings.max_range_partitions,
    )
    return TriggerPublic(**outcome.__dict__)


@router.post("/backfills", responses=error_responses(400, 404, 413, 422, 503))
def create_backfill(
    body: BackfillCreate,
    runner: RunnerDep,
    executions: ExecutionsFactoryDep,
    settings: SettingsDep,
) -> BackfillPublic:
    """Plan a backfill and start its `backfill` execution (with `dry_run`, only plan it)."""
    request = backfills.BackfillRequest(**body.model_dump())
    pipeline, plans = backfills.plan_runs(
        runner,
        body.pipeline,
        start=body.start,
        end=body.end,
        keys=body.partition_keys,
        order=body.order,
        only=body.only,
        max_partitions=settings.max_range_partitions,
    )
    estimate = backfills.estimate(runner, pipeline, plans)
    backfill_id = execution = None
    if not body.dry_run and plans:
        backfill_id = new_backfill_id(body.pipeline)
        execution = backfills.start_backfill(executions(), request, backfill_id).name
    return BackfillPublic(
        backfill_id=backfill_id,
        execution=execution,
        dry_run=body.dry_run,
        partitions=[
            PartitionPlanPublic(partition_key=p.partition_key, waves=[list(w) for w in p.waves])
            for p in plans[:MAX_LISTED_PARTITIONS]
        ],
        **estimate,
    )


@router.get("/backfills/{backfill_id}", responses=error_responses(404, 422, 503))
def read_backfill(backfill_id: BackfillIdPath, runner: RunnerDep) -> BackfillProgressPublic:
    """Progress of a backfill from the run ledger: partitions succeeded, failed, running."""
    states = runner.ledger.get_states(None, backfill_id=backfill_id)
    if not states:
        raise NotFoundError(f"no runs recorded for backfill {backfill_id!r} (yet)")
    by_partition: dict[str, set[str]] = {}
    for state in states:
        by_partition.setdefault(state.partition_key, set()).add(state.status)
    # A stale run (its job-runner died; its lease expired) failed as far as progress goes.
    failed = sorted(k for k, s in by_partition.items() if s & FAILED_STATUSES)
    running = [
        k for k, s in by_partition.items() if not s & FAILED_STATUSES and s & {"running", "queued"}
    ]
    return BackfillProgressPublic(
        backfill_id=backfill_id,
        partitions=len(by_partition),
        succeeded=len(by_partition) - len(failed) - len(running),
        failed=len(failed),
        running=len(running),
        failed_keys=failed,
    )
