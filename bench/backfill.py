"""Backfill workflows on the local engine with no-op jobs: billed steps, limits, throughput.

Runs the real `src/dayflow/workflows/*.workflows.yaml` on `WorkflowEngine` (default `Limits`, a
fake clock) against a stub job-runner served by uvicorn in a child process on 127.0.0.1: its plan
endpoint is `dayflow.planning.plan_partitions` over two pipelines (the example's `shop_daily`, 3
jobs in 2 waves, and `five_jobs`, 5 jobs in 4 waves), and its `POST /runs` does nothing.

Figures (one JSON object on stdout):
- steps_per_partition_job: billed steps of every execution of a 30-day shop_daily backfill
  (the parent and its children) / its partition-jobs.
- ten_year_*: a 10-year daily backfill of five_jobs (3,653 partitions x 5 jobs) at concurrency
  20: the most steps and variable bytes of any one execution, the engine's verdict (the parent
  and every child SUCCEEDED under the default limits), and partition-jobs per second.

Usage: .venv/bin/python bench/backfill.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from dayflow.package_files import get_workflows_dir
from dayflow.partitions import Order, PartitionKeyRange
from dayflow.planning import Only, plan_partitions

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "shop"
FIVE_JOBS = {
    "extract": {"kind": "http", "url": "https://example.com/extract"},
    "stage_a": {"kind": "http", "url": "https://example.com/a", "depends_on": ["extract"]},
    "stage_b": {"kind": "http", "url": "https://example.com/b", "depends_on": ["extract"]},
    "join": {"kind": "http", "url": "https://example.com/j", "depends_on": ["stage_a", "stage_b"]},
    "mart": {"kind": "http", "url": "https://example.com/m", "depends_on": ["join"]},
}


def create_stub_app() -> Any:
    """The job-runner's plan endpoint (real planning) and a no-op `POST /runs`."""
    from fastapi import FastAPI, HTTPException

    from dayflow.spec import Pipeline, load_spec

    pipelines = {
        "shop_daily": load_spec(EXAMPLE / "dayflow.yaml").get_pipeline("shop_daily"),
        "five_jobs": Pipeline.model_validate(
            {
                "granularity": "day",
                "timezone": "Europe/Stockholm",
                "schedule": "0 2 * * *",
                "start": "2015-01-01",
                "jobs": FIVE_JOBS,
            }
        ),
    }
    app = FastAPI()

    @app.get("/pipelines/{name}/plan")
    def read_plan(
        name: str, start: str, end: str, order: Order = "asc", only: Only = "all"
    ) -> dict[str, Any]:
        if name not in pipelines:
            raise HTTPException(404, f"unknown pipeline {name!r}")
        plans = plan_partitions(
            pipelines[name],
            PartitionKeyRange(start, end),
            order=order,
            only=only,
        )
        return {
            "pipeline": name,
            "order": order,
            "only": only,
            "num_partitions": len(plans),
            "num_partition_jobs": sum(p.num_jobs for p in plans),
            "partitions": [
                {"partition_key": p.partition_key, "waves": [list(w) for w in p.waves]}
                for p in plans
            ],
        }

    @app.post("/runs")
    async def create_run(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "attempt": 1, "status": "succeeded", "rows_written": 0}

    return app


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(create_stub_app(), host="127.0.0.1", port=port, log_level="warning")


def _start_stub() -> tuple[subprocess.Popen[bytes], str]:
    from dayflow.local.process import get_free_port

    port = get_free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/pipelines/shop_daily/plan?start=2024-01-01&end=2024-01-01")
            return proc, url
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
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
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    try:
        with httpx.Client(limits=limits) as client:
            engine = WorkflowEngine(
                clock=FakeClock(), http_client=client, limits=Limits(), env={"JOB_RUNNER_URL": url}
            )
            engine.deploy_directory(get_workflows_dir())
            small = _run(
                engine,
                {"pipeline": "shop_daily", "start": "2024-01-01", "end": "2024-01-30",
                 "concurrency": 4},
            )  # fmt: skip
            ten_years = _run(
                engine,
                {"pipeline": "five_jobs", "start": "2015-01-01", "end": "2024-12-31",
                 "concurrency": 20},
            )  # fmt: skip
            engine.close()
    finally:
        proc.terminate()
        proc.wait(10)
    summary = ten_years["summary"] or {}
    partition_jobs = summary.get("partition_jobs", 0)
    print(
        json.dumps(
            {
                "benchmark": "backfill",
                "steps_per_partition_job": round(
                    small["steps"] / small["summary"]["partition_jobs"], 2
                ),
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


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
    else:
        main()
