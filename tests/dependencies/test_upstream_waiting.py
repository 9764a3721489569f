"""Must-show (issue 14): a daily rollup over an hourly pipeline, across both DST days of
America/New_York. The rollup waits while hours are missing (recorded `waiting`, not failed),
runs once every hour is in, and its checksum equals a rollup computed straight from the hourly
table.

On 2024-03-10 the day has 23 hours (02:00 is skipped), on 2024-11-03 25 hours: the repeated
01:00 is one partition covering two real hours (dayflow.partitions), so that day has 24 hourly
partitions holding 25 hours of readings.

One job-runner for the module, over real HTTP on the session's BigQuery emulator; runs go
through what `dayflow run` uses (JobRunnerClient, partition_runs).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dayflow.cli import main
from dayflow.ledger import get_ledger_ref
from dayflow.local.stack import create_warehouse
from dayflow.package_files import get_workflows_dir
from dayflow.partition_runs import run_partition
from dayflow.partitions import PartitionKeyRange, PartitionScheme
from dayflow.runner_client import JobRunnerClient
from dayflow.settings import get_settings
from dayflow.spec import Spec, load_spec
from dayflow.warehouse import make_bigquery_client
from dayflow.workflows_engine import WorkflowEngine
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server
from tests.dependencies.meter_project import TIMEZONE, meter_spec, write_meter_project

pytestmark = pytest.mark.emulator

HOURLY = PartitionScheme("hour", TIMEZONE)
REPORT_SQL = """\
SELECT @partition_start AS hour_start, meter, COUNT(*) AS readings
FROM {{ dataset:meter }}.readings_hourly
WHERE read_at >= @partition_start AND read_at < @partition_end
GROUP BY meter
"""
# Readings per meter per real hour (one every 20 minutes).
READINGS_PER_HOUR = 3


@dataclass
class Stack:
    spec: Spec
    spec_path: Path
    url: str
    bigquery_endpoint: str
    client: JobRunnerClient
    http: httpx.Client
    engine: WorkflowEngine


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, bigquery_endpoint: str) -> Iterator[Stack]:
    spec_dict = meter_spec()
    # A second rollup that gives up at once: its first waiting answer is also its deadline.
    spec_dict["pipelines"]["meter_daily_strict"] = {
        **spec_dict["pipelines"]["meter_daily"],
        "upstream_wait": {"timeout_seconds": 0, "poll_seconds": 1},
    }
    # An hourly report of each hour's readings (mapping identity, inferred), polling each second.
    spec_dict["pipelines"]["meter_report"] = {
        **spec_dict["pipelines"]["meter_hourly"],
        "upstream_wait": {"timeout_seconds": 600, "poll_seconds": 1},
        "jobs": {
            "report": {
                "kind": "bigquery_sql",
                "sql": "sql/report.sql",
                "depends_on": [{"pipeline": "meter_hourly", "job": "readings"}],
                "destination": {
                    "dataset": "meter",
                    "table": "hourly_report",
                    "partition_field": "hour_start",
                    "partition_type": "TIMESTAMP",
                },
            }
        },
    }
    root = tmp_path_factory.mktemp("meters")
    spec_path = write_meter_project(root, spec_dict)
    (root / "sql" / "report.sql").write_text(REPORT_SQL)
    spec = load_spec(spec_path)
    create_warehouse(spec, bigquery_endpoint)
    app = create_app(
        JobRunnerSettings(
            spec_path=spec_path, bigquery_endpoint=bigquery_endpoint, run_hold_seconds=20
        )
    )
    with (
        Server(app) as server,
        JobRunnerClient(server.url) as client,
        httpx.Client(base_url=server.url, timeout=120) as http,
    ):
        # The real workflow files on the local engine, on the real clock (sys.sleep waits).
        engine = WorkflowEngine(env={"JOB_RUNNER_URL": server.url})
        engine.deploy_directory(get_workflows_dir())
        try:
            yield Stack(spec, spec_path, server.url, bigquery_endpoint, client, http, engine)
        finally:
            engine.close()


def run_hours(stack: Stack, keys: list[str]) -> None:
    """Run hourly partitions side by side, as `dayflow run` runs a job (POST /runs, polled)."""
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda k: stack.client.run("meter_hourly", "readings", k), keys))
    assert {o["status"] for o in outcomes} == {"succeeded"}, outcomes


def expected_rollup(stack: Stack, day: str) -> tuple[int, str, list[dict[str, Any]]]:
    """The rollup of `day` computed straight from the hourly table (by local date, not by the
    partition's bounds), with the checksum's own row count and fingerprint."""
    environment = stack.spec.get_environment("local")
    hourly = f"`local.{environment.get_dataset_id('meter')}.readings_hourly`"
    rollup = f"""
        SELECT DATE '{day}' AS day, meter, COUNT(*) AS readings, SUM(kwh) AS kwh,
          COUNT(DISTINCT hour_key) AS hours
        FROM {hourly}
        WHERE DATE(read_at, '{TIMEZONE}') = DATE '{day}'
        GROUP BY meter
    """
    sql = f"""
        SELECT COUNT(*) AS n, BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(t))) AS fp,
          ARRAY_AGG(STRUCT(t.meter AS meter, t.readings AS readings, t.hours AS hours)
            ORDER BY t.meter) AS rows
        FROM ({rollup}) AS t
    """
    with make_bigquery_client("local", stack.bigquery_endpoint) as bq:
        (row,) = bq.query_and_wait(sql)
    return int(row["n"]), f"{int(row['fp']) & 0xFFFFFFFFFFFFFFFF:016x}", list(row["rows"])


@pytest.mark.parametrize(("day", "hours", "keys"), [("2024-03-10", 23, 23), ("2024-11-03", 25, 24)])
def test_daily_rollup_waits_for_every_hour_across_dst(
    stack: Stack, day: str, hours: int, keys: int
) -> None:
    hour_keys = HOURLY.get_partition_keys(PartitionKeyRange(day + "T00", day + "T23"))
    assert len(hour_keys) == keys
    run_hours(stack, hour_keys[:-3])

    (waiting,) = run_partition(stack.client, "meter_daily", day)
    assert waiting["status"] == "waiting"
    assert [m["partition_key"] for m in waiting["missing"]] == hour_keys[-3:]
    assert waiting["error"] == (
        f"run meter_daily/rollup/{day}/1 is waiting: 3 upstream partition(s) not succeeded: "
        + ", ".join(f"meter_hourly.readings {k} (never ran)" for k in hour_keys[-3:])
    )
    # Recorded waiting, not failed: only=failed leaves it, only=missing redoes it.
    (cell,) = stack.client.get_status("meter_daily", day, day)["partitions"]
    assert cell["jobs"]["rollup"]["status"] == "waiting"
    assert stack.client.get_plan("meter_daily", day, day, only="failed")["partitions"] == []
    assert len(stack.client.get_plan("meter_daily", day, day, only="missing")["partitions"]) == 1

    run_hours(stack, hour_keys[-3:])
    (ran,) = run_partition(stack.client, "meter_daily", day)
    # The waiting attempt never ran: the run is its attempt 1.
    assert (ran["status"], ran["run_id"]) == ("succeeded", f"meter_daily/rollup/{day}/1")

    checksum = stack.client.get_checksums("meter_daily", day, day)["partitions"][0]["tables"][0]
    n, fingerprint, rows = expected_rollup(stack, day)
    # One row per meter, and the job-runner's checksum equals the one of the direct rollup.
    assert n == 2
    assert (checksum["rows"], checksum["fingerprint"]) == (n, fingerprint)
    assert [(r["meter"], r["readings"], r["hours"]) for r in rows] == [
        ("m1", hours * READINGS_PER_HOUR, keys),
        ("m2", hours * READINGS_PER_HOUR, keys),
    ]


def test_a_waiting_run_answers_409_naming_every_missing_hour(stack: Stack) -> None:
    body = {"pipeline": "meter_daily", "job": "rollup", "partition_key": "2024-01-05"}
    answer = stack.http.post("/runs", json=body)
    assert answer.status_code == 409
    assert answer.headers["Retry-After"] == "600"
    waiting = answer.json()
    assert (waiting["error_kind"], waiting["run_id"], waiting["retry_after"]) == (
        "waiting",
        "meter_daily/rollup/2024-01-05/1",
        600,
    )
    assert [m["partition_key"] for m in waiting["missing"]] == [
        f"2024-01-05T{h:02d}" for h in range(24)
    ]
    assert {m["status"] for m in waiting["missing"]} == {"never ran"}
    # A poll of the waiting run answers alike; a new request re-checks the same attempt.
    polled = stack.http.get("/runs/meter_daily/rollup/2024-01-05/1")
    assert (polled.status_code, polled.json()["error_kind"]) == (409, "waiting")
    again = stack.http.post("/runs", json=body).json()
    assert again["run_id"] == "meter_daily/rollup/2024-01-05/1"


def test_a_waiting_caller_fails_after_the_wait_deadline_naming_what_is_missing(
    stack: Stack,
) -> None:
    # meter_daily_strict has upstream_wait.timeout_seconds 0: its first answer is its deadline.
    stack.client.run("meter_hourly", "readings", "2024-01-06T03")
    body = {
        "pipeline": "meter_daily_strict",
        "job": "rollup",
        "partition_key": "2024-01-06",
        "request_key": "execution-1",
    }
    first = stack.http.post("/runs", json=body)
    assert (first.status_code, first.json()["retry_after"]) == (409, 1)
    assert len(first.json()["missing"]) == 23
    timed_out = stack.http.post("/runs", json=body)
    assert timed_out.status_code == 422
    assert timed_out.json()["error_kind"] == "permanent"
    assert timed_out.json()["detail"].startswith(
        "run meter_daily_strict/rollup/2024-01-06/1 waited 0 s "
        "(upstream_wait.timeout_seconds) for its upstream partitions; still 23 upstream "
        "partition(s) not succeeded: meter_hourly.readings 2024-01-06T00 (never ran), "
    )
    assert "2024-01-06T03" not in timed_out.json()["detail"]
    (cell,) = stack.client.get_status("meter_daily_strict", "2024-01-06", "2024-01-06")[
        "partitions"
    ]
    assert (cell["jobs"]["rollup"]["status"], cell["jobs"]["rollup"]["attempt"]) == ("failed", 1)
    # Another caller starts a wait of its own, on the next attempt.
    other = stack.http.post("/runs", json={**body, "request_key": "execution-2"})
    assert (other.status_code, other.json()["run_id"]) == (
        409,
        "meter_daily_strict/rollup/2024-01-06/2",
    )


def test_dayflow_run_and_status_show_waiting_without_failing(
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DAYFLOW_JOB_RUNNER_URL", stack.url)
    get_settings.cache_clear()
    try:
        spec = ["--spec", str(stack.spec_path), "--env", "local"]
        with pytest.raises(SystemExit) as exited:
            main(["run", "meter_daily", "--partition", "2024-01-07", *spec])
        run_out = capsys.readouterr()
        with pytest.raises(SystemExit) as status_exit:
            main(["status", "meter_daily", "--start", "2024-01-07", "--end", "2024-01-07", *spec])
        status_out = capsys.readouterr()
    finally:
        get_settings.cache_clear()
    assert exited.value.code == 3
    assert "waiting" in run_out.out
    assert run_out.err.startswith(
        "waiting: run meter_daily/rollup/2024-01-07/1 is waiting: 24 upstream partition(s) not "
        "succeeded: meter_hourly.readings 2024-01-07T00 (never ran)"
    )
    assert run_out.err.rstrip().endswith("(not a failure: run it again once they have succeeded)")
    assert "Traceback" not in run_out.err
    assert status_exit.value.code == 0
    assert "1 waiting:" in status_out.out
    assert "failed" not in status_out.out


def test_a_scheduled_run_waits_for_its_upstream_then_runs(stack: Stack) -> None:
    # run_partition (what a schedule starts) polls while the job-runner answers waiting.
    execution = stack.engine.start_execution(
        "run_partition", {"pipeline": "meter_report", "partition_key": "2024-01-09T05"}
    )
    deadline = time.monotonic() + 120
    while not _has_state(stack, "meter_report", "2024-01-09T05", "waiting"):
        assert time.monotonic() < deadline, "the report never recorded waiting"
        time.sleep(0.2)
    stack.client.run("meter_hourly", "readings", "2024-01-09T05")
    assert execution.wait(timeout=120), "run_partition did not end after its upstream ran"
    assert execution.state == "SUCCEEDED", execution.error
    report = execution.result_value["jobs"]["report"]
    assert (report["status"], report["attempt"], report["rows_written"]) == ("succeeded", 1, 2)


def test_a_scheduled_run_fails_after_its_wait_deadline_naming_what_is_missing(
    stack: Stack,
) -> None:
    execution = stack.engine.run(
        "run_partition", {"pipeline": "meter_daily_strict", "partition_key": "2024-01-10"}
    )
    assert execution.state == "FAILED"
    assert execution.error["tags"] == ["JobFailedError"]
    assert execution.error["failed_jobs"] == ["rollup"]
    assert execution.error["message"].startswith(
        "partition 2024-01-10 of meter_daily_strict failed: job rollup failed for partition "
        "2024-01-10 of meter_daily_strict: HTTP 422: run meter_daily_strict/rollup/2024-01-10/1 "
        "waited 0 s (upstream_wait.timeout_seconds) for its upstream partitions; still 24 "
        "upstream partition(s) not succeeded: meter_hourly.readings 2024-01-10T00 (never ran)"
    )


def _has_state(stack: Stack, pipeline: str, key: str, status: str) -> bool:
    (cell,) = stack.client.get_status(pipeline, key, key)["partitions"]
    return any(state["status"] == status for state in cell["jobs"].values())


def test_the_plan_shows_cross_pipeline_edges_and_the_upstream_stages(stack: Stack) -> None:
    body = {"pipeline": "meter_daily", "start": "2024-03-10", "end": "2024-03-11"}
    plan = stack.http.post("/backfills/plan", json={**body, "include_upstream": True}).json()
    assert plan["edges"] == [
        {
            "job": "rollup",
            "upstream_pipeline": "meter_hourly",
            "upstream_job": "readings",
            "mapping": "hours_of_day",
            "window": None,
        }
    ]
    assert plan["upstream"] == [
        {
            "pipeline": "meter_hourly",
            "start": "2024-03-10T00",
            "end": "2024-03-11T23",
            "order": "asc",
            "only": "all",
            "concurrency": 4,
        }
    ]
    assert stack.http.post("/backfills/plan", json=body).json()["upstream"] == []


def test_dayflow_backfill_dry_run_shows_the_edges_and_upstream_stages(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAYFLOW_JOB_RUNNER_URL", stack.url)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            main(
                ["backfill", "start", "meter_daily", "--start", "2024-03-10", "--end",
                 "2024-03-10", "--dry-run", "--include-upstream", "--spec", str(stack.spec_path)]
            )  # fmt: skip
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "rollup <- meter_hourly.readings (hours_of_day)" in out
    assert "first, upstream 1: meter_hourly 2024-03-10T00..2024-03-10T23" in out


def test_a_backfill_with_include_upstream_runs_the_upstream_partitions_first(
    stack: Stack,
) -> None:
    execution = stack.engine.run(
        "backfill",
        {"pipeline": "meter_report", "start": "2024-01-12T00", "end": "2024-01-12T02",
         "include_upstream": True, "backfill_id": "bf-up"},
    )  # fmt: skip
    assert execution.state == "SUCCEEDED", execution.error
    result = execution.result_value
    assert (result["partitions"], result["succeeded"], result["failed"]) == (3, 3, 0)
    (upstream,) = result["upstream"]
    assert (upstream["pipeline"], upstream["backfill_id"]) == ("meter_hourly", "bf-up-meter_hourly")
    assert (upstream["partitions"], upstream["succeeded"]) == (3, 3)
    # The report never waited: its upstream hours had all succeeded before it started.
    environment = stack.spec.get_environment("local")
    ledger = get_ledger_ref("local", environment.dataset_prefix)
    with make_bigquery_client("local", stack.bigquery_endpoint) as bq:
        rows = bq.query_and_wait(
            f"SELECT status, COUNT(*) AS n FROM {ledger.sql} WHERE pipeline = 'meter_report' "
            "AND partition_date = DATE '2024-01-12' GROUP BY status ORDER BY status"
        )
        assert {r["status"]: r["n"] for r in rows} == {"running": 3, "succeeded": 3}
