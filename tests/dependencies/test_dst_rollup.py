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

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dayflow.local.stack import create_warehouse
from dayflow.partition_runs import run_partition
from dayflow.partitions import PartitionKeyRange, PartitionScheme
from dayflow.runner_client import JobRunnerClient
from dayflow.spec import Spec, load_spec
from dayflow.warehouse import make_bigquery_client
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server
from tests.dependencies.meter_project import TIMEZONE, meter_spec, write_meter_project

HOURLY = PartitionScheme("hour", TIMEZONE)
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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, bigquery_endpoint: str) -> Iterator[Stack]:
    spec_dict = meter_spec()
    # A second rollup that gives up at once: its first waiting answer is also its deadline.
    spec_dict["pipelines"]["meter_daily_strict"] = {
        **spec_dict["pipelines"]["meter_daily"],
        "upstream_wait": {"timeout_seconds": 0, "poll_seconds": 1},
    }
    spec_path = write_meter_project(tmp_path_factory.mktemp("meters"), spec_dict)
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
        yield Stack(spec, spec_path, server.url, bigquery_endpoint, client, http)


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
    assert (checksum["rows"], checksum["fingerprint"]) == (n, fingerprint) == (2, fingerprint)
    assert [(r["meter"], r["readings"], r["hours"]) for r in rows] == [
        ("m1", hours * READINGS_PER_HOUR, keys),
        ("m2", hours * READINGS_PER_HOUR, keys),
    ]
