"""Pipelines: run plans in dependency waves, and partition checksums."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from dayflow.errors import UserError
from dayflow.partitions import PartitionKeyRange
from dayflow.spec import Pipeline
from job_runner.api.deps import RunnerDep
from job_runner.domain.backfills import plan_runs
from job_runner.domain.checksums import get_partition_checksums
from job_runner.domain.runner import JobRunner
from job_runner.models import ChecksumsPublic, PartitionPlanPublic, PlanPublic

router = APIRouter(prefix="/pipelines", tags=["pipelines"])


def get_range(
    runner: JobRunner, name: str, key_range: PartitionKeyRange
) -> tuple[Pipeline, list[str]]:
    pipeline = runner.get_pipeline(name)
    try:
        keys = pipeline.scheme.get_partition_keys(key_range)
    except ValueError as err:
        raise UserError(str(err)) from None
    return pipeline, keys


@router.get("/{name}/plan")
def read_plan(
    name: str,
    start: str,
    end: str,
    runner: RunnerDep,
    order: Literal["asc", "desc"] = "asc",
    only: Literal["all", "failed", "missing"] = "all",
) -> PlanPublic:
    """The partitions in [start, end] to run and, for each, its job waves in dependency order."""
    _, plans = plan_runs(runner, name, start=start, end=end, order=order, only=only)
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


@router.get("/{name}/checksums")
def read_checksums(name: str, start: str, end: str, runner: RunnerDep) -> ChecksumsPublic:
    """Row count and order-independent fingerprint of each partition of each replaced table."""
    pipeline, keys = get_range(runner, name, PartitionKeyRange(start, end))
    return ChecksumsPublic.model_validate(
        {"pipeline": name, "partitions": get_partition_checksums(runner, pipeline, keys)}
    )
