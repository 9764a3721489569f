"""Runs: start one job for one partition, poll it, and read partition status from the ledger.

POST /runs and GET /runs/{pipeline}/{job}/{partition_key}/{attempt} answer alike: 200 with the
outcome once the run succeeded; 202 with `status` (`queued` or `running`), `run_id` and
`retry_after` (also as the Retry-After header) while it runs; the run's error once it failed
(422 permanent, 503 transient or stale: see job_runner.errors). Each waits up to
`run_hold_seconds` for the run to end before answering 202 (asynchronously: no thread is held).
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Future
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from dayflow.partitions import PartitionKeyRange
from job_runner.api.deps import RunnerDep, SettingsDep
from job_runner.api.params import EndQuery, PipelineQuery, StartQuery
from job_runner.api.routes.pipelines import get_range
from job_runner.domain.lifecycle import RunOutcome, RunRequest, RunTicket
from job_runner.domain.runner import JobRunner
from job_runner.models import (
    JobStatePublic,
    PartitionStatusPublic,
    RunCreate,
    StatusPublic,
    error_responses,
)

router = APIRouter(tags=["runs"])


_ANSWERS: dict[int | str, dict[str, object]] = {
    202: {"model": RunOutcome, "description": "The run is queued or running: poll its run_id"},
}


@router.post(
    "/runs",
    response_model=RunOutcome,
    responses={**error_responses(400, 404, 409, 413, 422, 503), **_ANSWERS},
)
async def create_run(body: RunCreate, runner: RunnerDep) -> JSONResponse:
    """Start one job for one partition, or attach to the attempt it repeats (same `attempt`,
    or same `request_key`). Rerunning replaces that partition's rows."""
    ticket = await run_in_threadpool(runner.start, RunRequest(**body.model_dump()))
    return await _answer(runner, ticket)


@router.get(
    "/runs/{pipeline}/{job}/{partition_key}/{attempt}",
    response_model=RunOutcome,
    responses={**error_responses(404, 409, 422, 503), **_ANSWERS},
)
async def read_run(
    pipeline: str,
    job: str,
    partition_key: str,
    attempt: Annotated[int, Path(ge=1, le=10_000)],
    runner: RunnerDep,
) -> JSONResponse:
    """The state of one run (`run_id` = pipeline/job/partition_key/attempt), as POST answers."""
    ticket = await run_in_threadpool(
        runner.lifecycle.get_ticket, pipeline, job, partition_key, attempt
    )
    return await _answer(runner, ticket)


async def _answer(runner: JobRunner, ticket: RunTicket) -> JSONResponse:
    if ticket.future is not None and runner.lifecycle.hold_seconds > 0:
        await _wait_for(ticket.future, runner.lifecycle.hold_seconds)
    outcome = runner.lifecycle.get_outcome(ticket)  # raises the run's error if it failed
    if outcome.status == "succeeded":
        return JSONResponse(jsonable_encoder(outcome))
    return JSONResponse(
        jsonable_encoder(outcome),
        status_code=202,
        headers={"Retry-After": str(outcome.retry_after)},
    )


async def _wait_for(future: Future[RunOutcome], seconds: float) -> None:
    """Wait until `future` is done or `seconds` have passed, without holding a thread."""
    if future.done():
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def settle() -> None:
        if not done.done():
            done.set_result(None)

    def wake(_: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
            loop.call_soon_threadsafe(settle)

    future.add_done_callback(wake)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done, seconds)


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
