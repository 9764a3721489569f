"""Scheduled triggers (Cloud Scheduler, OIDC) and manual backfills over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from dayflow.backfill_plan import MAX_CHUNK_PARTITION_JOBS, MAX_LISTED_KEYS, BackfillPlan
from dayflow.errors import NotFoundError, UserError
from dayflow.executions import new_backfill_id
from dayflow.ledger import FAILED_STATUSES
from job_runner.api.deps import ExecutionsFactoryDep, RunnerDep, SettingsDep
from job_runner.api.params import BackfillIdPath, PipelinePath
from job_runner.domain import backfills, triggers
from job_runner.domain.upstream_backfills import get_edges, get_stage_requests
from job_runner.models import (
    BackfillCreate,
    BackfillPlanCreate,
    BackfillPlanPublic,
    BackfillProgressPublic,
    BackfillPublic,
    BackfillSummaryPublic,
    ChunkPublic,
    EdgePublic,
    LanePublic,
    PartitionPlanPublic,
    TriggerPublic,
    UpstreamStagePublic,
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
    """Plan a backfill and start its `backfill` execution (with `dry_run`, only plan it; with
    `job_seconds`, say how long it would take if each job took that long)."""
    request = backfills.BackfillRequest(**body.model_dump())
    pipeline, plan = backfills.plan_chunks(runner, request, settings.max_range_partitions)
    estimate = backfills.estimate(runner, pipeline, plan)
    backfill_id = execution = None
    if not body.dry_run and plan.partitions:
        backfill_id = new_backfill_id(body.pipeline)
        execution = backfills.start_backfill(executions(), request, backfill_id).name
    expected = None if body.job_seconds is None else plan.get_expected_seconds(body.job_seconds)
    stages = (
        get_stage_requests(runner.spec, body.model_dump(), backfill_id)
        if body.include_upstream
        else []
    )
    return BackfillPublic(
        backfill_id=backfill_id,
        execution=execution,
        dry_run=body.dry_run,
        expected_seconds=expected,
        edges=[EdgePublic(**e) for e in get_edges(runner.spec, body.pipeline)],
        upstream=[UpstreamStagePublic(**s) for s in stages],
        partitions=[
            PartitionPlanPublic(partition_key=p.partition_key, waves=[list(w) for w in p.waves])
            for p in plan.partitions[:MAX_LISTED_PARTITIONS]
        ],
        **estimate,
    )


@router.post("/backfills/plan", responses=error_responses(400, 404, 413, 422, 503))
def create_backfill_plan(
    body: BackfillPlanCreate, runner: RunnerDep, settings: SettingsDep
) -> BackfillPlanPublic:
    """The plan the workflows run: `backfill` asks it once for its chunks and lanes (and,
    with `dry_run`, returns it as its result); each `backfill_chunk` asks it, with
    `waves: true`, for its own partitions' job waves. Bad input is refused with the messages
    of POST /backfills."""
    request = backfills.BackfillRequest(**body.model_dump(exclude={"backfill_id", "waves"}))
    _, plan = backfills.plan_chunks(runner, request, settings.max_range_partitions)
    public = get_plan_public(body, plan)
    stages = (
        get_stage_requests(runner.spec, body.model_dump(), body.backfill_id)
        if body.include_upstream and not body.waves
        else []
    )
    edges = [EdgePublic(**e) for e in get_edges(runner.spec, body.pipeline)]
    return public.model_copy(update={"edges": edges, "upstream": stages})


def get_plan_public(body: BackfillPlanCreate, plan: BackfillPlan) -> BackfillPlanPublic:
    """The answer of POST /backfills/plan for a request and its plan (bench/backfill.py's stub
    job-runner answers with it too)."""
    request = backfills.BackfillRequest(**body.model_dump(exclude={"backfill_id", "waves"}))
    if body.waves and plan.num_partition_jobs > MAX_CHUNK_PARTITION_JOBS:
        raise UserError(
            f"waves: {plan.num_partition_jobs} partition-jobs (expected at most "
            f"{MAX_CHUNK_PARTITION_JOBS}: ask for one chunk's waves at a time)"
        )
    summary = BackfillSummaryPublic(
        pipeline=body.pipeline,
        order=body.order,
        only=body.only,
        chunks=len(plan.chunks),
        partitions=len(plan.partitions),
        partition_jobs=plan.num_partition_jobs,
        skipped=len(plan.skipped_keys),
        skipped_keys=list(plan.skipped_keys[:MAX_LISTED_KEYS]),
    )
    lanes = [
        LanePublic(
            concurrency=lane.concurrency,
            chunks=[
                ChunkPublic(
                    name=f"{plan.chunks[i][0].partition_key}..{plan.chunks[i][-1].partition_key} "
                    f"({len(plan.chunks[i])} partitions)",
                    request=backfills.get_chunk_request(request, plan.chunks[i]),
                    partitions=len(plan.chunks[i]),
                    partition_jobs=sum(p.num_jobs for p in plan.chunks[i]),
                )
                for i in lane.chunks
            ],
        )
        for lane in plan.lanes
    ]
    expected = None if body.job_seconds is None else plan.get_expected_seconds(body.job_seconds)
    return BackfillPlanPublic(
        backfill_id=body.backfill_id,
        dry_run=body.dry_run,
        summary=summary,
        planned_keys=[p.partition_key for p in plan.partitions[:MAX_LISTED_KEYS]],
        estimated_steps=plan.get_estimated_steps(),
        expected_seconds=expected,
        lanes=[] if body.waves else lanes,
        partition_plans=[
            PartitionPlanPublic(partition_key=p.partition_key, waves=[list(w) for w in p.waves])
            for p in plan.partitions
        ]
        if body.waves
        else None,
        edges=[],
        upstream=[],
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
        k
        for k, s in by_partition.items()
        if not s & FAILED_STATUSES and s & {"running", "queued", "waiting"}
    ]
    return BackfillProgressPublic(
        backfill_id=backfill_id,
        partitions=len(by_partition),
        succeeded=len(by_partition) - len(failed) - len(running),
        failed=len(failed),
        running=len(running),
        failed_keys=failed,
    )
