"""Backfill workflows on the local engine against a stub job-runner: billed steps, limits,
partitions in flight and how close a backfill comes to its ideal wall time.

Runs the real `src/dayflow/workflows/*.workflows.yaml` on `WorkflowEngine` (default `Limits`, a
fake clock for retry backoff) against a stub job-runner served by uvicorn in a child process on
127.0.0.1. Its POST /backfills/plan is the job-runner's own planning (`dayflow.planning`,
`dayflow.backfill_plan` and the route's answer) over three pipelines: the example's
`shop_daily` (3 jobs in 2 waves), `five_jobs` (5 jobs in 4 waves) and `one_second` (1 job whose
runs take 1 s: the stub supplies the delay, so the figure measures the orchestration). Its
POST /runs does nothing else, and counts the partitions in flight.

Figures (one JSON object on stdout):
- steps_per_partition_job: billed steps of every execution of a 30-day shop_daily backfill
  (the parent and its children) / its partition-jobs.
- max_partitions_in_flight, backfill_efficiency: a backfill of 2,000 `one_second` partitions at
  concurrency 100: the most partitions whose runs were in flight at once, and the ideal wall
  time (ceil(2000 / 100) x 1 s) / the measured one.
- ten_year_*: a 10-year daily backfill of five_jobs (3,653 partitions x 5 jobs) at concurrency
  100: the most steps and variable bytes of any one execution, the engine's verdict (the parent
  and every child SUCCEEDED under the default limits), and partition-jobs per second.

Usage: .venv/bin/python bench/backfill.py
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from dayflow.package_files import get_workflows_dir
from job_runner.models import BackfillPlanCreate, BackfillPlanPublic

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "shop"
FIVE_JOBS = {
    "extract": {"kind": "http", "url": "https://example.com/extract"},
    "stage_a": {"kind": "http", "url": "https://example.com/a", "depends_on": ["extract"]},
    "stage_b": {"kind": "http", "url": "https://example.com/b", "depends_on": ["extract"]},
    "join": {"kind": "http", "url": "https://example.com/j", "depends_on": ["stage_a", "stage_b"]},
    "mart": {"kind": "http", "url": "https://example.com/m", "depends_on": ["join"]},
}
# Runs of these pipelines take this long (seconds) in the stub.
RUN_SECONDS = {"one_second": 1.0}
EFFICIENCY_PARTITIONS = 2000
EFFICIENCY_CONCURRENCY = 100


def create_stub_app() -> Any:
    """The job-runner's planning endpoint (its real planning) and a no-op `POST /runs`."""
    from fastapi import FastAPI, HTTPException

    from dayflow.backfill_plan import plan_backfill
    from dayflow.errors import UserError
    from dayflow.partitions import PartitionKeyRange
    from dayflow.planning import plan_partitions
    from dayflow.spec import Pipeline, load_spec
    from job_runner.api.routes.backfills import get_plan_public

    def daily(jobs: dict[str, Any]) -> Pipeline:
        return Pipeline.model_validate(
            {
                "granularity": "day",
                "timezone": "Europe/Stockholm",
                "schedule": "0 2 * * *",
                "start": "2015-01-01",
                "jobs": jobs,
            }
        )

    pipelines = {
        "shop_daily": load_spec(EXAMPLE / "dayflow.yaml").get_pipeline("shop_daily"),
        "five_jobs": daily(FIVE_JOBS),
        "one_second": daily({"load": FIVE_JOBS["extract"]}),
    }
    in_flight: dict[str, int] = {}
    stats = {"max_partitions_in_flight": 0}
    app = FastAPI()

    @app.post("/backfills/plan")
    def create_plan(body: BackfillPlanCreate) -> BackfillPlanPublic:
        if body.pipeline not in pipelines:
            raise HTTPException(404, f"unknown pipeline {body.pipeline!r}")
        pipeline = pipelines[body.pipeline]
        key_range = None
        if body.start is not None and body.end is not None:
            key_range = PartitionKeyRange(body.start, body.end)
        plans = plan_partitions(pipeline, key_range, keys=body.partition_keys, order=body.order)
        try:
            plan = plan_backfill(
                plans,
                [p.partition_key for p in plans],
                concurrency=body.concurrency,
                chunk_size=body.chunk_size,
                jobs_per_partition=len(pipeline.jobs),
            )
            return get_plan_public(body, plan)
        except UserError as err:
            raise HTTPException(422, str(err)) from None

    @app.post("/runs")
    async def create_run(body: dict[str, Any]) -> dict[str, Any]:
        key = body["partition_key"]
        in_flight[key] = in_flight.get(key, 0) + 1
        stats["max_partitions_in_flight"] = max(stats["max_partitions_in_flight"], len(in_flight))
        try:
            await asyncio.sleep(RUN_SECONDS.get(body["pipeline"], 0.0))
        finally:
            in_flight[key] -= 1
            if not in_flight[key]:
                del in_flight[key]
        return {**body, "attempt": 1, "status": "succeeded", "rows_written": 0}

    @app.get("/stats")
    def read_stats() -> dict[str, int]:
        return stats

    @app.post("/stats/reset")
    def reset_stats() -> dict[str, int]:
        stats["max_partitions_in_flight"] = 0
        return stats

    return app


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(create_stub_app(), host="127.0.0.1", port=port, log_level="warning")


def _start_stub() -> tuple[subprocess.Popen[bytes], str]:
    from dayflow.local.process import get_free_port

    port = get_free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    url = f"http://127.0.0.1:{port}"
    # The deadline follows the work: the stub either answers or its process ends.
    while True:
        try:
            httpx.get(f"{url}/stats")
            return proc, url
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError("the stub job-runner did not start") from None
            time.sleep(0.1)


def _run(engine: Any, argument: dict[str, Any]) -> dict[str, Any]:
    """Run a backfill; return its summary and the figures of its executions."""
    before = {e.execution_id for e in engine.list_executions("backfill_chunk")}
    started = time.perf_counter()
    parent = engine.run("backfill", argument)
    seconds = time.perf_counter() - started
    children = [e for e in engine.list_executions("backfill_chunk") if e.execution_id not in before]
    executions = [parent, *children]
    return {
        "summary": parent.result_value,
        "error": parent.error,
        "seconds": seconds,
        "steps": sum(e.steps for e in executions),
        "max_steps": max(e.steps for e in executions),
        "max_variable_bytes": max(e.max_variable_bytes for e in executions),
        "all_succeeded": all(e.state == "SUCCEEDED" for e in executions),
        "children": len(children),
    }


def main() -> None:
    from dayflow.workflows_engine import FakeClock, Limits, WorkflowEngine

    proc, url = _start_stub()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    try:
        with httpx.Client(limits=limits, timeout=300) as client:
            engine = WorkflowEngine(
                clock=FakeClock(), http_client=client, limits=Limits(), env={"JOB_RUNNER_URL": url}
            )
            engine.deploy_directory(get_workflows_dir())
            small = _run(
                engine,
                {"pipeline": "shop_daily", "start": "2024-01-01", "end": "2024-01-30",
                 "concurrency": 4},
            )  # fmt: skip
            client.post(f"{url}/stats/reset")
            last = _day(EFFICIENCY_PARTITIONS - 1)
            timed = _run(
                engine,
                {"pipeline": "one_second", "start": "2015-01-01", "end": last,
                 "concurrency": EFFICIENCY_CONCURRENCY},
            )  # fmt: skip
            in_flight = client.get(f"{url}/stats").json()["max_partitions_in_flight"]
            ten_years = _run(
                engine,
                {"pipeline": "five_jobs", "start": "2015-01-01", "end": "2024-12-31",
                 "concurrency": 100},
            )  # fmt: skip
            engine.close()
    finally:
        proc.terminate()
        proc.wait(10)
    summary = ten_years["summary"] or {}
    partition_jobs = summary.get("partition_jobs", 0)
    ideal = math.ceil(EFFICIENCY_PARTITIONS / EFFICIENCY_CONCURRENCY) * RUN_SECONDS["one_second"]
    print(
        json.dumps(
            {
                "benchmark": "backfill",
                "steps_per_partition_job": round(
                    small["steps"] / small["summary"]["partition_jobs"], 2
                ),
                "max_partitions_in_flight": in_flight,
                "backfill_efficiency": round(ideal / timed["seconds"], 3),
                "efficiency_seconds": round(timed["seconds"], 1),
                "efficiency_ideal_seconds": ideal,
                "efficiency_succeeded": (timed["summary"] or {}).get("succeeded"),
                "ten_year_partitions": summary.get("partitions"),
                "ten_year_partition_jobs": partition_jobs,
                "ten_year_chunks": ten_years["children"],
                "ten_year_steps_per_partition_job": round(ten_years["steps"] / partition_jobs, 2)
                if partition_jobs
                else None,
                "ten_year_max_steps_per_execution": ten_years["max_steps"],
                "ten_year_max_variable_bytes": ten_years["max_variable_bytes"],
                "ten_year_within_limits": ten_years["all_succeeded"]
                and summary.get("succeeded") == 3653,
                "partition_jobs_per_second": round(partition_jobs / ten_years["seconds"]),
                "ten_year_seconds": round(ten_years["seconds"], 1),
                "ten_year_error": ten_years["error"],
            }
        )
    )


def _day(offset: int) -> str:
    from datetime import date, timedelta

    return (date(2015, 1, 1) + timedelta(days=offset)).isoformat()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
    else:
        main()
