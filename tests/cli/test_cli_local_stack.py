"""The local stack as the CLI finds it: a dead service fails a command at once, naming it and
what to run; the Workflows engine that `dayflow local up` starts keeps its executions across
restarts, and `--fresh` (`stack.erase`) deletes them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from dayflow.executions import WorkflowsExecutions
from dayflow.local.process import get_free_port, stop_process
from dayflow.local.stack import erase, get_history_file, start_workflows
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.cli.conftest import RunCli, write_hourly_spec
from tests.conftest import Server, read_project_spec

LOCATION = "europe-north1"


def write_stack(state_dir: Path, **addresses: str) -> None:
    """A stack.json as `dayflow local up` writes it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "stack.json").write_text(json.dumps(addresses))


def test_a_dead_emulator_fails_run_at_once_naming_it_and_what_to_run(
    cli: RunCli, tmp_path: Path
) -> None:
    # Ports nothing listens on (bound once, then closed): each connection is refused at once,
    # as when the emulator's process has died.
    dead_bigquery = f"http://127.0.0.1:{get_free_port()}"
    write_stack(
        tmp_path / "state",
        bigquery_endpoint=dead_bigquery,
        job_runner_url=f"http://127.0.0.1:{get_free_port()}",
        workflows_grpc=f"127.0.0.1:{get_free_port()}",
    )
    spec = write_hourly_spec(tmp_path)
    result = cli(
        "run", "shop_daily", "--partition", "2024-01-02", "--spec", str(spec),
        state_dir=str(tmp_path / "state"), env="local",
    )  # fmt: skip
    assert result.code == 1
    [line] = result.err_lines
    assert line.startswith(
        f"error: the local stack is not answering: the BigQuery emulator at {dead_bigquery}, "
        "the job-runner at "
    )
    assert line.endswith("refused the connection (restart it: dayflow local up)")


def test_only_the_dead_services_are_named(
    cli: RunCli, tmp_path: Path, bigquery_endpoint: str
) -> None:
    dead_runner = f"http://127.0.0.1:{get_free_port()}"
    write_stack(tmp_path / "state", bigquery_endpoint=bigquery_endpoint, job_runner_url=dead_runner)
    spec = write_hourly_spec(tmp_path)
    result = cli(
        "status", "shop_daily", "--start", "2024-01-01", "--end", "2024-01-02",
        "--spec", str(spec), state_dir=str(tmp_path / "state"), env="local",
    )  # fmt: skip
    assert result.code == 1
    assert result.err_lines == [
        f"error: the local stack is not answering: the job-runner at {dead_runner} refused the "
        "connection (restart it: dayflow local up)"
    ]


async def refusing_job_runner(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A job-runner that refuses every request with a 422, as it refuses bad arguments."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"detail": "refused by the test"}'})


def test_the_local_workflows_engine_keeps_executions_across_restarts(tmp_path: Path) -> None:
    """The engine process `dayflow local up` starts, restarted as `local up` restarts it. The
    backfill fails at once: the job-runner refuses its plan request (a refused argument is not
    retried; a job-runner that is not there at all would be retried with backoff, for minutes)."""
    state = tmp_path / "state"

    def restart(job_runner_url: str) -> WorkflowsExecutions:
        stop_process("workflows", state)
        grpc_port = get_free_port()
        start_workflows(state, job_runner_url, grpc_port, LOCATION)
        return WorkflowsExecutions("local", LOCATION, f"127.0.0.1:{grpc_port}")

    try:
        with Server(refusing_job_runner) as job_runner:
            executions = restart(job_runner.url)
            started = executions.start("backfill", {"pipeline": "shop_daily", "start": "2024-01-01",
                                                    "end": "2024-01-01"})  # fmt: skip
            while not (finished := executions.get(started.name)).is_done:
                time.sleep(0.05)
        assert finished.state == "FAILED"
        assert "refused by the test" in str(finished.error)

        listed = restart(job_runner.url).list("backfill")
        assert [(e.name, e.state, e.argument) for e in listed] == [
            (started.name, "FAILED", started.argument)
        ]
        assert listed[0].error == finished.error

        stop_process("workflows", state)
        erase(state)  # what `dayflow local up --fresh` does after stopping the stack
        assert not get_history_file(state).exists()
        assert restart(job_runner.url).list("backfill") == []
    finally:
        stop_process("workflows", state)


def test_local_up_shows_each_service_and_keeps_history_unless_fresh(
    cli: RunCli, tmp_path: Path
) -> None:
    """`dayflow local up` twice, then `--fresh`, on a spec without topics (no ingest path)."""
    spec = read_project_spec()
    spec["topics"] = {}
    del spec["pipelines"]["shop_events"]
    spec["environments"]["local"]["dataset_prefix"] = "up_"
    spec_path = tmp_path / "dayflow.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    env = {"state_dir": str(tmp_path / "state"), "env": "local"}

    def executions() -> list[str]:
        listed = cli("executions", "shop_daily", "--json", "--spec", str(spec_path), **env)
        assert listed.code == 0, listed.err
        return [e["execution_id"] for e in json.loads(listed.out)]

    try:
        up = cli("local", "up", "--spec", str(spec_path), **env)
        assert up.code == 0, up.err
        steps = [line.split(" (")[0] for line in up.out.splitlines() if line.startswith("✔")]
        assert steps == [
            "✔ the BigQuery emulator",
            "✔ datasets and the run ledger",
            "✔ the job-runner and the Workflows engine",
        ]
        stack = json.loads((tmp_path / "state" / "stack.json").read_text())
        started = WorkflowsExecutions(
            "local", stack["workflows_location"], stack["workflows_grpc"]
        ).start("backfill", {"pipeline": "shop_daily", "concurrency": 99})
        assert executions() == [started.execution_id]

        assert cli("local", "up", "--spec", str(spec_path), **env).code == 0
        assert executions() == [started.execution_id]

        assert cli("local", "up", "--fresh", "--spec", str(spec_path), **env).code == 0
        assert executions() == []
    finally:
        cli("local", "down", **env)


def test_a_job_runner_whose_emulator_died_fails_the_run_at_once(
    cli: RunCli, tmp_path: Path
) -> None:
    """The job-runner's BigQuery client does not retry a refused connection for minutes: the
    run fails on its first call, naming the emulator and what to run."""
    spec = write_hourly_spec(tmp_path)
    settings = JobRunnerSettings(
        spec_path=spec, bigquery_endpoint=f"http://127.0.0.1:{get_free_port()}"
    )
    with Server(create_app(settings)) as server:
        result = cli(
            "run", "shop_daily", "--partition", "2024-01-02", "--job", "stg_orders",
            "--spec", str(spec), job_runner_url=server.url,
        )  # fmt: skip
    assert result.code == 1
    assert result.err_lines == [
        "error: job 'stg_orders' failed for partition 2024-01-02: the BigQuery emulator at <url> "
        "refused the connection: it is not running (start the local stack: dayflow local up)"
    ]
