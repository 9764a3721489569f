"""`dayflow run`, `status` and `executions` through the real entry point, against a real
job-runner on 127.0.0.1 over the BigQuery emulator, and the local Workflows engine's gRPC API.

The spec's `stg_orders` reads a table that does not exist (a permanent BigQuery error with a long
message), so its runs fail while `dim_customers` succeeds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from dayflow.errors import DayflowError
from dayflow.local.stack import create_warehouse
from dayflow.package_files import get_workflows_dir
from dayflow.runner_client import JobRunnerClient
from dayflow.spec import load_spec
from dayflow.workflows_engine import FakeClock, WorkflowEngine
from dayflow.workflows_engine.grpc_api import start_grpc_server
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.cli.conftest import RunCli, write_hourly_spec
from tests.conftest import Server

LOCATION = "europe-north1"
# Long, so that the error is longer than one summary line.
MISSING_TABLE = "no_such_table_" + "x" * 150


@dataclass(frozen=True)
class Runner:
    url: str
    spec: Path


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory, bigquery_endpoint: str) -> Iterator[Runner]:
    """The job-runner over a spec whose `stg_orders` fails; one partition already has a failed
    `stg_orders` and a succeeded `dim_customers`."""
    directory = tmp_path_factory.mktemp("cli_runs")
    spec_path = write_hourly_spec(directory)
    spec = yaml.safe_load(spec_path.read_text())
    bad_sql = directory / "stg_orders.sql"
    bad_sql.write_text(
        f"SELECT order_id, DATE(order_ts) AS order_date FROM `local.raw.{MISSING_TABLE}`\n"
        "WHERE DATE(order_ts) = @partition_date\n"
    )
    spec["pipelines"]["shop_daily"]["jobs"]["stg_orders"]["sql"] = str(bad_sql)
    spec["environments"]["local"]["dataset_prefix"] = "cli_"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    create_warehouse(load_spec(spec_path), bigquery_endpoint)
    settings = JobRunnerSettings(spec_path=spec_path, bigquery_endpoint=bigquery_endpoint)
    with Server(create_app(settings)) as server:
        client = JobRunnerClient(server.url)
        with pytest.raises(DayflowError, match=MISSING_TABLE):
            client.run("shop_daily", "stg_orders", "2024-01-02")
        client.run("shop_daily", "dim_customers", "2024-01-02")
        client.close()
        yield Runner(server.url, spec_path)


def test_a_failed_job_is_printed_once_on_one_line_and_exits_1(cli: RunCli, runner: Runner) -> None:
    result = cli(
        "run", "shop_daily", "--partition", "2024-01-03", "--spec", str(runner.spec),
        job_runner_url=runner.url,
    )  # fmt: skip
    assert result.code == 1
    assert len(result.err_lines) == 1, result.err_lines
    assert re.match(
        r"^error: job 'stg_orders' failed for partition 2024-01-03: .*"
        + MISSING_TABLE
        + r".* \(1 downstream job\(s\) not run\)$",
        result.err_lines[0],
    ), result.err_lines[0]
    # The SQL error once: google-cloud-bigquery repeats a failed job's errorResult in its message.
    assert result.err_lines[0].count(MISSING_TABLE) == 1
    # The table says which job failed and what was not run; the error text is on stderr only.
    assert MISSING_TABLE not in result.out
    rows = {line.split()[1]: line for line in result.out.splitlines() if "│" in line[:2]}
    assert "failed" in rows["stg_orders"]
    assert "succeeded" in rows["dim_customers"]
    assert "not run" in rows["mart_daily_sales"]


def test_run_json_gives_every_jobs_outcome(cli: RunCli, runner: Runner) -> None:
    result = cli(
        "run", "shop_daily", "--partition", "2024-01-04", "--json", "--spec", str(runner.spec),
        job_runner_url=runner.url,
    )  # fmt: skip
    assert result.code == 1
    outcome = json.loads(result.out)
    jobs = {j["job"]: j for j in outcome["jobs"]}
    assert {name: j["status"] for name, j in jobs.items()} == {
        "stg_orders": "failed",
        "dim_customers": "succeeded",
        "mart_daily_sales": "not run",
    }
    assert MISSING_TABLE in jobs["stg_orders"]["error"]
    assert jobs["dim_customers"]["run_id"] == "shop_daily/dim_customers/2024-01-04/1"
    assert isinstance(jobs["dim_customers"]["rows_written"], int)


def test_status_shows_each_failed_cells_error_cut_to_one_line(cli: RunCli, runner: Runner) -> None:
    result = cli(
        "status", "shop_daily", "--start", "2024-01-02", "--end", "2024-01-02",
        "--spec", str(runner.spec), job_runner_url=runner.url,
    )  # fmt: skip
    assert result.code == 0
    lines = result.out.splitlines()
    assert "1 failed:" in lines
    [error_line] = [line for line in lines if line.startswith("  2024-01-02 stg_orders #1: ")]
    assert len(error_line) <= len("  2024-01-02 stg_orders #1: ") + 160
    assert error_line.endswith("…")
    assert "(cut to one line: --errors shows them in full)" in lines


def test_status_errors_shows_the_whole_error_unwrapped(cli: RunCli, runner: Runner) -> None:
    result = cli(
        "status", "shop_daily", "--start", "2024-01-02", "--end", "2024-01-02", "--errors",
        "--spec", str(runner.spec), job_runner_url=runner.url,
    )  # fmt: skip
    grid = json.loads(
        cli(
            "status", "shop_daily", "--start", "2024-01-02", "--end", "2024-01-02", "--json",
            "--spec", str(runner.spec), job_runner_url=runner.url,
        ).out
    )  # fmt: skip
    error = grid["partitions"][0]["jobs"]["stg_orders"]["error"]
    assert error.count(MISSING_TABLE) == 1
    # Piped output is not wrapped at 80 columns: the whole error is one line.
    assert f"  2024-01-02 stg_orders #1: {' '.join(error.split())}" in result.out.splitlines()
    assert grid["partitions"][0]["jobs"]["dim_customers"]["status"] == "succeeded"


def test_status_of_an_hourly_pipeline_takes_a_day_range(cli: RunCli, runner: Runner) -> None:
    result = cli(
        "status", "meter_hourly", "--start", "2024-03-10", "--end", "2024-03-11", "--json",
        "--spec", str(runner.spec), job_runner_url=runner.url,
    )  # fmt: skip
    assert result.code == 0, result.err
    grid = json.loads(result.out)
    keys = [p["partition_key"] for p in grid["partitions"]]
    # Every local hour of both days: 23 on the spring-forward day (02:00 does not exist), 24.
    assert len(keys) == 23 + 24
    assert (keys[0], keys[-1]) == ("2024-03-10T00", "2024-03-11T23")
    assert "2024-03-10T02" not in keys
    assert (grid["start"], grid["end"]) == ("2024-03-10T00", "2024-03-11T23")


def test_status_bounds_that_are_skipped_hours_delimit_the_range(
    cli: RunCli, runner: Runner
) -> None:
    result = cli(
        "status", "meter_hourly", "--start", "2024-03-10T00", "--end", "2024-03-10T02", "--json",
        "--spec", str(runner.spec), job_runner_url=runner.url,
    )  # fmt: skip
    assert result.code == 0, result.err
    keys = [p["partition_key"] for p in json.loads(result.out)["partitions"]]
    assert keys == ["2024-03-10T00", "2024-03-10T01"]


def test_executions_shows_a_backfills_failed_partitions(cli: RunCli, runner: Runner) -> None:
    engine = WorkflowEngine(
        project="local", location=LOCATION, clock=FakeClock(), env={"JOB_RUNNER_URL": runner.url}
    )
    engine.deploy_directory(get_workflows_dir())
    grpc_server, port = start_grpc_server(engine, "127.0.0.1", 0)
    try:
        backfill = engine.run(
            "backfill",
            {"pipeline": "shop_daily", "start": "2024-01-05", "end": "2024-01-06",
             "concurrency": 2, "backfill_id": "bf-cli-test"},
        )  # fmt: skip
        assert backfill.state == "SUCCEEDED"  # it ran every partition; both failed
        endpoint = {"workflows_endpoint": f"127.0.0.1:{port}", "workflows_location": LOCATION}
        table = cli("executions", "shop_daily", "--spec", str(runner.spec), **endpoint)
        as_json = cli("executions", "shop_daily", "--json", "--spec", str(runner.spec), **endpoint)
    finally:
        grpc_server.stop(None)
        engine.close()
    assert table.code == 0, table.err
    [row] = [line for line in table.out.splitlines() if "backfill" in line]
    # Piped: the whole execution id, not its first 8 characters.
    assert backfill.execution_id in row
    assert "SUCCEEDED, 2 failed" in row
    assert "2: 0 ok 2 failed 0 skipped" in row
    [listed] = [e for e in json.loads(as_json.out) if e["workflow"] == "backfill"]
    assert listed["execution_id"] == backfill.execution_id
    assert listed["summary"] == {"partitions": 2, "succeeded": 0, "failed": 2, "skipped": 0}
