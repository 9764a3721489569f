"""Runs: start one job for one partition, and read partition status from the ledger."""

from __future__ import annotations

from fastapi import APIRouter

from dayflow.partitions import PartitionKeyRange
from job_runner.api.deps import RunnerDep
from job_runner.api.routes.pipelines import get_range
from job_runner.domain.runner import RunOutcome, RunRequest
from job_runner.models import (
    JobStatePublic,
    PartitionStatusPublic,
    RunCreate,
    StatusPublic,
)

router = APIRouter(tags=["runs"])


@router.post("/runs")
def create_run(body: RunCreate, runner: RunnerDep) -> RunOutcome:
    """Run one job for one partition. Rerunning replaces that partition's rows."""
    return runner.run(RunRequest(**body.model_dump()))


@router.get("/runs")
def read_runs(pipeline: str, start: str, end: str, runner: RunnerDep) -> StatusPublic:
    """The newest ledger state of every (partition, job) in [start, end]."""
    spec_pipeline, keys = get_range(runner, pipeline, PartitionKeyRange(start, end))
    scheme = spec_pipeline.scheme
    states = runner.ledger.get_states(
        pipeline, scheme.get_partition_date(start), scheme.get_partition_date(end)
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
