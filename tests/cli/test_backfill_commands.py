"""`dayflow backfill`, `backfill watch` and `backfill cancel` through the real entry point
(`dayflow.cli:main` in a child process), against a local stack: the job-runner (uvicorn, on a
port that survives its restart), the Workflows engine serving the Executions gRPC API with the
package's workflows deployed (real clock), and the BigQuery emulator."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from dayflow.local.process import get_free_port
from dayflow.local.stack import create_warehouse
from dayflow.package_files import get_workflows_dir
from dayflow.spec import load_spec
from dayflow.workflows_engine import Execution, WorkflowEngine
from dayflow.workflows_engine.grpc_api import start_grpc_server
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import ROOT, write_spec

pytestmark = pytest.mark.emulator

LOCATION = "europe-north1"


class RunnerProcess:
    """The job-runner on a fixed 127.0.0.1 port, in a thread, restartable as a new app."""

    def __init__(self, settings: JobRunnerSettings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:  # ends: started, or the thread died
            assert self._thread.is_alive(), "the job-runner did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join()


@dataclass
class Stack:
    engine: WorkflowEngine
    runner: RunnerProcess
    http: httpx.Client
    env: dict[str, str]

    def dayflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `dayflow ARGS` as a user would (its entry point, in its own process)."""
        return subprocess.run(
            [sys.executable, "-c", "from dayflow.cli import main; main()", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )

    def start_backfill(self, **body: Any) -> tuple[str, Execution]:
        """POST /backfills, as an HTTP user would; return the id and the parent execution."""
        response = self.http.post("/backfills", json={"pipeline": "shop_daily", **body})
        assert response.status_code == 200, response.text
        backfill_id = response.json()["backfill_id"]
        (execution,) = [
            e for e in self.engine.list_executions("backfill") if backfill_id in (e.argument or "")
        ]
        return backfill_id, execution


@pytest.fixture
def stack(tmp_path: Path, bigquery_endpoint: str) -> Iterator[Stack]:
    spec_path = write_spec(tmp_path)
    create_warehouse(load_spec(spec_path), bigquery_endpoint)
    port = get_free_port()
    engine = WorkflowEngine(location=LOCATION, env={"JOB_RUNNER_URL": f"http://127.0.0.1:{port}"})
    engine.deploy_directory(get_workflows_dir())
    grpc_server, grpc_port = start_grpc_server(engine, "127.0.0.1", 0)
    settings = JobRunnerSettings(
        spec_path=spec_path,
        bigquery_endpoint=bigquery_endpoint,
        workflows_endpoint=f"127.0.0.1:{grpc_port}",
        workflows_location=LOCATION,
    )
    runner = RunnerProcess(settings, port)
    runner.start()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), str(ROOT / "services"), os.environ.get("PYTHONPATH", "")]
        ),
        "DAYFLOW_SPEC": str(spec_path),
        "DAYFLOW_ENV": "local",
        "DAYFLOW_JOB_RUNNER_URL": runner.url,
        "DAYFLOW_WORKFLOWS_ENDPOINT": f"127.0.0.1:{grpc_port}",
        "DAYFLOW_WORKFLOWS_LOCATION": LOCATION,
        "COLUMNS": "200",
    }
    with httpx.Client(base_url=runner.url, timeout=120) as http:
        yield Stack(engine, runner, http, env)
    engine.close()
    runner.stop()
    grpc_server.stop(None)


def get_states(stack: Stack, start: str, end: str) -> dict[str, dict[str, str]]:
    response = stack.http.get(
        "/runs", params={"pipeline": "shop_daily", "start": start, "end": end}
    )
    response.raise_for_status()
    return {
        p["partition_key"]: {job: s["status"] for job, s in p["jobs"].items()}
        for p in response.json()["partitions"]
    }


def test_backfill_starts_through_the_job_runner_and_follows_it_to_its_summary(
    stack: Stack,
) -> None:
    dry = stack.dayflow(
        "backfill", "shop_daily", "--start", "2024-03-01", "--end", "2024-03-04", "--dry-run",
        "--concurrency", "2", "--job-seconds", "30",
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "2m 00s" in dry.stdout, dry.stdout  # 4 partitions, 2 at once, 2 waves of 30 s
    assert stack.engine.list_executions("backfill") == []

    done = stack.dayflow(
        "backfill", "shop_daily", "--start", "2024-03-01", "--end", "2024-03-04",
        "--concurrency", "2",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    (execution,) = stack.engine.list_executions("backfill")
    assert execution.execution_id in done.stdout
    assert execution.result_value["succeeded"] == 4
    assert "backfill summary" in done.stdout
    states = get_states(stack, "2024-03-01", "2024-03-04")
    assert len(states) == 4
    assert all(s == "succeeded" for jobs in states.values() for s in jobs.values())


def test_watch_follows_a_backfill_started_over_http_across_a_job_runner_restart(
    stack: Stack,
) -> None:
    backfill_id, execution = stack.start_backfill(
        start="2024-03-10", end="2024-03-15", concurrency=1
    )
    # Restart the job-runner once the backfill has recorded a run (or ended, failing below).
    while not execution.done and stack.http.get(f"/backfills/{backfill_id}").status_code == 404:
        time.sleep(0.1)
    stack.runner.stop()
    stack.runner.start()

    watched = stack.dayflow("backfill", "watch", backfill_id)

    assert watched.returncode == 0, watched.stderr
    assert execution.done and execution.state == "SUCCEEDED", execution.error
    assert execution.result_value["succeeded"] == 6
    assert "backfill summary" in watched.stdout
    states = get_states(stack, "2024-03-10", "2024-03-15")
    assert all(s == "succeeded" for jobs in states.values() for s in jobs.values())
    assert len(states) == 6


def test_cancel_stops_the_backfill_execution_and_every_chunk_execution(stack: Stack) -> None:
    backfill_id, parent = stack.start_backfill(
        start="2024-04-01", end="2024-04-20", concurrency=1, chunk_size=2
    )
    # A chunk whose parent is gone, as a cancelled parent leaves them in GCP (the local engine
    # cancels a parent's waiting children itself): cancel must find it by the backfill id.
    plan = {"pipeline": "shop_daily", "start": "2024-04-21", "end": "2024-04-30", "waves": True}
    orphan = stack.engine.start_execution(
        "backfill_chunk", {"plan": plan, "concurrency": 1, "backfill_id": backfill_id}
    )
    while not stack.engine.list_executions("backfill_chunk")[1:]:  # the parent's first chunk
        assert not parent.done, parent.error
        time.sleep(0.1)

    cancelled = stack.dayflow("backfill", "cancel", backfill_id)

    assert cancelled.returncode == 0, cancelled.stderr
    assert parent.state == "CANCELLED"
    chunks = stack.engine.list_executions("backfill_chunk")
    assert orphan in chunks and len(chunks) >= 2
    assert all(c.done for c in chunks)
    assert orphan.state == "CANCELLED"
    assert {c.state for c in chunks} <= {"SUCCEEDED", "CANCELLED"}
    watched = stack.dayflow("backfill", "watch", backfill_id)
    assert watched.returncode == 1
    assert f"error: backfill {backfill_id} CANCELLED" in watched.stderr
    assert "Traceback" not in watched.stderr


def test_watch_of_an_unknown_backfill_is_one_line_and_exit_2(stack: Stack) -> None:
    result = stack.dayflow("backfill", "watch", "bf-nope")

    assert result.returncode == 2
    assert result.stderr.startswith("error: no backfill execution has backfill_id 'bf-nope'")
    assert len(result.stderr.strip().splitlines()) == 1


def test_watch_finds_a_backfill_started_by_hand_by_its_execution_id(stack: Stack) -> None:
    # Started without a backfill_id (as `gcloud workflows run backfill` would): its id is the
    # execution's, which every run of it records.
    execution = stack.engine.start_execution(
        "backfill", {"pipeline": "shop_daily", "start": "2024-05-10", "end": "2024-05-11"}
    )

    watched = stack.dayflow("backfill", "watch", execution.execution_id)

    assert watched.returncode == 0, watched.stderr
    assert execution.state == "SUCCEEDED"
    assert execution.result_value["backfill_id"] == execution.execution_id
    assert "backfill summary" in watched.stdout
