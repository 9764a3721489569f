"""Pipelines: run plans in dependency waves, and partition checksums."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from dayflow.partition_bounds import check_partition_range
from dayflow.partitions import PartitionKeyRange
from dayflow.spec import Pipeline
from job_runner.api.deps import RunnerDep, SettingsDep
from job_runner.api.params import EndQuery, PipelinePath, StartQuery
from job_runner.domain.backfills import plan_runs
from job_runner.domain.checksums import get_partition_checksums
from job_runner.domain.runner import JobRunner
from job_runner.models import (
    ChecksumsPublic,
    PartitionPlanPublic,
    PlanPublic,
    error_responses,
)

router = APIRouter(prefix="/pipelines", tags=["pipelines"])


def get_range(
    runner: JobRunner, name: str, key_range: PartitionKeyRange, max_partitions: int
) -> tuple[Pipeline, list[str]]:
    """The pipeline and the keys of a checked range (bounds and length, before listing)."""
    pipeline = runner.get_pipeline(name)
    check_partition_range(name, pipeline, key_range, max_partitions)
    return pipeline, pipeline.scheme.get_partition_keys(key_range)


@router.get("/{name}/plan", responses=error_responses(404, 422, 503))
def read_plan(
    name: PipelinePath,
    start: StartQuery,
    end: EndQuery,
    runner: RunnerDep,
    settings: SettingsDep,
    order: Literal["asc", "desc"] = "asc",
    only: Literal["all", "failed", "missing"] = "all",
) -> PlanPublic:
    """The partitions in [start, end] to run and, for each, its job waves in dependency order."""
    _, plans = plan_runs(
        runner,
        name,
        start=start,
        end=end,
        order=order,
        only=only,
        max_partitions=settings.max_range_partitions,
    )
    return PlanPublic(
        pipeline=name,
        order=order,
        only=only,
        num_partitions=len(plans),
        num_partition_jobs=sum(p.num_jobs for p in plans),
        partitions=[
            PartitionPlanPublic(partition_key=p.partition_key, waves=[list(w) for w in p.waves])
            for p in plans
        ],
    )


@router.get("/{name}/checksums", responses=error_responses(404, 422, 503))
def read_checksums(
    name: PipelinePath, start: StartQuery, end: EndQuery, runner: RunnerDep, settings: SettingsDep
) -> ChecksumsPublic:
    """Row count and order-independent fingerprint of each partition of each replaced table
    (one BigQuery query; at most JOB_RUNNER_MAX_CHECKSUM_PARTITIONS partitions)."""
    key_range = PartitionKeyRange(start, end)
    pipeline, keys = get_range(runner, name, key_range, settings.max_checksum_partitions)
    return ChecksumsPublic.model_validate(
        {"pipeline": name, "partitions": get_partition_checksums(runner, pipeline, keys)}
    )
