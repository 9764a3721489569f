"""Freshness of each pipeline: how old its newest complete partition is (dayflow.freshness)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from dayflow.freshness import Freshness
from job_runner.api.deps import RunnerDep
from job_runner.domain.freshness import check_freshness, read_freshness
from job_runner.models import FreshnessListPublic, FreshnessPublic, error_responses

router = APIRouter(tags=["freshness"])


@router.get(
    "/freshness", response_model=FreshnessListPublic, responses=error_responses(404, 422, 503)
)
async def get_freshness(
    runner: RunnerDep,
    pipeline: Annotated[str | None, Query(description="One pipeline (default: all)")] = None,
) -> FreshnessListPublic:
    """Each pipeline's newest complete partition, its age, its limit, and whether it is stale."""
    return _public(await run_in_threadpool(read_freshness, runner, pipeline))


@router.post("/freshness/check", response_model=FreshnessListPublic, responses=error_responses(503))
async def post_freshness_check(runner: RunnerDep) -> FreshnessListPublic:
    """As GET /freshness for every pipeline, and one log line each (what the freshness alert
    reads). Cloud Scheduler calls it every 15 minutes."""
    return _public(await run_in_threadpool(check_freshness, runner))


def _public(checked: list[Freshness]) -> FreshnessListPublic:
    return FreshnessListPublic(pipelines=[FreshnessPublic(**f.to_public()) for f in checked])
