"""Runs: start one job for one partition, and read partition status from the ledger."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from dayflow.partitions import PartitionKeyRange
from job_runner.api.deps import RunnerDep, SettingsDep
from job_runner.api.params import EndQuery, PipelineQuery, StartQuery
from job_runner.api.routes.pipelines import get_range
from job_runner.domain.runner import RunOutcome, RunRequest
from job_runner.models import (
    JobStatePublic,
    PartitionStatusPublic,
    RunCreate,
    StatusPublic,
    error_responses,
)

router = APIRouter(tags=["runs"])


@router.post("/runs", responses=error_responses(400, 404, 413, 422, 503))
def create_run(body: RunCreate, runner: RunnerDep) -> RunOutcome:
    """Run one job for one partition. Rerunning replaces that partition's rows."""
    return runner.run(RunRequest(**body.model_dump()))


@router.get("/runs", responses=error_responses(404, 422, 503))
def read_runs(
    pipeline: PipelineQuery,
    start: StartQuery,
    end: EndQuery,
    runner: RunnerDep,
    settings: SettingsDep,
) -> StatusPublic:
    """The newest ledger state of every (partition, job) in [start, end]."""
    spec_pipeline, keys = get_range(
        runner, pipeline, PartitionKeyRange(start, end), settings.max_range_partitions
    )
    # The dates of the bounds (an hourly bound may be an hour skipped by DST: not a key).
    states = runner.ledger.get_states(
        pipeline, date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
    )
    by_key: dict[str, dict[str, JobStatePublic]] = {key: {} for key in keys}
    for s in states:
        if s.partition_key in by_key:
            by_key[s.partition_key][s.job] = JobStatePublic(
                status=s.status, attempt=s.attempt, error=s.error, rows_written=s.rows_written
            )
    return StatusPublic(
        pipeline=pipeline,
        jobs=list(spec_pipeline.jobs),
        partitions=[PartitionStatusPublic(partition_key=k, jobs=j) for k, j in by_key.items()],
    )
