"""Fixtures: the real workflow files on the local engine, against real job-runners on 127.0.0.1.

Each job-runner gets its own spec copy (own dataset prefix) over the session's BigQuery
emulator; the engine runs on a fake clock, so retry backoff never really sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dayflow.local.stack import create_warehouse
from dayflow.package_files import get_workflows_dir
from dayflow.spec import load_spec
from dayflow.workflows_engine import Execution, FakeClock, WorkflowEngine
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server, write_spec

WORKFLOWS = get_workflows_dir()


class Backfills:
    """An engine with `workflows/` deployed, talking to one job-runner."""

    def __init__(self, engine: WorkflowEngine, clock: FakeClock, runner_url: str) -> None:
        self.engine = engine
        self.clock = clock
        self.runner = httpx.Client(base_url=runner_url, timeout=120)

    def run(self, workflow_id: str, argument: Any) -> Execution:
        execution = self.engine.run(workflow_id, argument)
        assert execution.done
        return execution

    def backfill(self, **argument: Any) -> dict[str, Any]:
        """Run `backfill`; return its summary (the execution must succeed)."""
        execution = self.run("backfill", argument)
        assert execution.state == "SUCCEEDED", execution.error
        summary: dict[str, Any] = execution.result_value
        return summary

    def steps_of_last_backfill(self, children: int) -> int:
        """Billed steps of the newest backfill execution and its `children` chunks."""
        parent = self.engine.list_executions("backfill")[0]
        chunks = self.engine.list_executions("backfill_chunk")[:children]
        return parent.steps + sum(c.steps for c in chunks)

    def run_directly(self, start: str, end: str, *, attempt: int) -> None:
        """Run every job of shop_daily's partitions in [start, end] through POST /runs, with
        `attempt` (partitions in parallel, each one's jobs in plan order)."""
        plan = self.runner.get(
            "/pipelines/shop_daily/plan", params={"start": start, "end": end}
        ).json()

        def run_partition(partition: dict[str, Any]) -> None:
            for wave in partition["waves"]:
                for job in wave:
                    body = {
                        "pipeline": "shop_daily",
                        "job": job,
                        "partition_key": partition["partition_key"],
                        "attempt": attempt,
                    }
                    self.runner.post("/runs", json=body).raise_for_status()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(run_partition, plan["partitions"]))

    def get_stats(self, reset: bool = False) -> dict[str, int]:
        response = self.runner.post("/stats/reset") if reset else self.runner.get("/stats")
        response.raise_for_status()
        stats: dict[str, int] = response.json()
        return stats

    def get_job_states(self, start: str, end: str) -> dict[str, dict[str, Any]]:
        """{partition_key: {job: {status, attempt, ...}}} from the run ledger."""
        response = self.runner.get(
            "/runs", params={"pipeline": "shop_daily", "start": start, "end": end}
        )
        response.raise_for_status()
        return {p["partition_key"]: p["jobs"] for p in response.json()["partitions"]}

    def get_checksums(self, start: str, end: str) -> list[tuple[str, list[tuple[int, str]]]]:
        """Per partition, each replaced table's (rows, fingerprint), dataset prefixes aside."""
        response = self.runner.get(
            "/pipelines/shop_daily/checksums", params={"start": start, "end": end}
        )
        response.raise_for_status()
        return [
            (p["partition_key"], [(t["rows"], t["fingerprint"]) for t in p["tables"]])
            for p in response.json()["partitions"]
        ]


@pytest.fixture
def make_backfills(tmp_path: Path, bigquery_endpoint: str) -> Iterator[Callable[..., Backfills]]:
    """Start a job-runner (optionally reading a faults file, optionally with more pipelines)
    and an engine pointed at it."""
    stack = ExitStack()

    def make(
        name: str,
        *,
        faults_file: Path | None = None,
        pipelines: dict[str, Any] | None = None,
        max_concurrent_runs: int = 10,
    ) -> Backfills:
        directory = tmp_path / name
        directory.mkdir()
        spec_path = write_spec(directory)
        if pipelines:  # more pipelines, beside the tests project's shop_daily
            spec = yaml.safe_load(spec_path.read_text())
            spec["pipelines"].update(pipelines)
            spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        create_warehouse(load_spec(spec_path), bigquery_endpoint)
        # The longest hold: each run answers in one call, so the fake clock's sleeps are the
        # retry backoff alone (test_long_runs covers polling).
        settings = JobRunnerSettings(
            spec_path=spec_path,
            bigquery_endpoint=bigquery_endpoint,
            faults_file=faults_file,
            run_hold_seconds=300,
            max_concurrent_runs=max_concurrent_runs,
        )
        server = stack.enter_context(Server(create_app(settings)))
        clock = FakeClock()
        engine = WorkflowEngine(clock=clock, env={"JOB_RUNNER_URL": server.url})
        stack.callback(engine.close)
        engine.deploy_directory(WORKFLOWS)
        backfills = Backfills(engine, clock, server.url)
        stack.callback(backfills.runner.close)
        return backfills

    yield make
    stack.close()


def write_faults(path: Path, *, transient_rate: float, permanent: list[str], seed: int) -> Path:
    """The job-runner's fault-injection file (re-read on every POST /runs)."""
    path.write_text(
        json.dumps(
            {"transient_rate": transient_rate, "permanent_partitions": permanent, "seed": seed}
        )
    )
    return path
