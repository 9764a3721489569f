"""A broken schedule turns a pipeline stale: no run for longer than its freshness limit shows red
in `dayflow status` (through the real entry point) and in the log line the freshness alert
counts (POST /freshness/check, which Cloud Scheduler calls). The job-runner's clock is injected
(its `now`), so the limit passes without waiting for it."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dayflow.ledger import RunLedger, get_ledger_ref
from dayflow.local.stack import create_warehouse
from dayflow.logs import CloudLoggingFormatter
from dayflow.spec import load_spec
from dayflow.warehouse import make_bigquery_client
from job_runner.core.config import JobRunnerSettings
from job_runner.domain.runner import JobRunner
from job_runner.main import create_app
from tests.cli.conftest import RunCli
from tests.conftest import Server

pytestmark = pytest.mark.emulator

PIPELINE = "orders_daily"


def write_spec(directory: Path) -> Path:
    (directory / "daily.sql").write_text("SELECT @partition_date AS day, 1 AS n")
    spec = {
        "version": 1,
        "name": "fresh",
        "environments": {
            "local": {"gcp_project": "local", "dataset_prefix": f"f{uuid.uuid4().hex[:8]}_"},
            "dev": {"gcp_project": "acme-fresh-dev"},
            "prod": {"gcp_project": "acme-fresh-prod"},
        },
        "pipelines": {
            PIPELINE: {
                "granularity": "day", "timezone": "Europe/Stockholm", "schedule": "0 2 * * *",
                "start": "2024-01-01", "alerts": {"freshness": "28h", "notify": ["oncall"]},
                "jobs": {"daily": {"kind": "bigquery_sql", "sql": "daily.sql", "destination":
                         {"dataset": "mart", "table": "daily", "partition_field": "day"}}},
            }
        },
    }  # fmt: skip
    path = directory / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def stack(tmp_path: Path, bigquery_endpoint: str) -> Iterator[tuple[str, Path, Clock]]:
    """A job-runner on 127.0.0.1 whose clock the test moves; its URL, spec and clock."""
    spec_path = write_spec(tmp_path)
    spec = load_spec(spec_path)
    create_warehouse(spec, bigquery_endpoint)
    clock = Clock(datetime(2024, 1, 6, 3, 0, tzinfo=UTC))  # 04:00 in Stockholm
    client = make_bigquery_client("local", bigquery_endpoint)
    prefix = spec.get_environment("local").dataset_prefix
    ledger = RunLedger(client, get_ledger_ref("local", prefix), now=clock)
    app = create_app(JobRunnerSettings(spec_path=spec_path, bigquery_endpoint=bigquery_endpoint))
    # The app's runner is built on first use unless set: here, one on the test's clock.
    app.state.runner = JobRunner(spec, "local", client, ledger, now=clock)
    with Server(app) as server:
        yield server.url, spec_path, clock


def run_partition(url: str, key: str) -> None:
    body = {"pipeline": PIPELINE, "job": "daily", "partition_key": key}
    with httpx.Client(base_url=url, timeout=120) as http:
        outcome = http.post("/runs", json=body).json()
        deadline = time.monotonic() + 300  # bounded by the run's own work
        while outcome["status"] in ("queued", "running") and time.monotonic() < deadline:
            outcome = http.get(f"/runs/{outcome['run_id']}").json()
    assert outcome["status"] == "succeeded", outcome


def check_lines(url: str) -> list[dict[str, Any]]:
    """POST /freshness/check, and the lines it logged as Cloud Logging JSON."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter("acme-fresh-prod"))
    logger = logging.getLogger("dayflow.freshness")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # as the served app does (dayflow.logs)
    try:
        httpx.post(f"{url}/freshness/check", timeout=120).raise_for_status()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_schedule_that_stops_turns_the_pipeline_stale_in_status_and_in_the_alert_signal(
    cli: RunCli, stack: tuple[str, Path, Clock]
) -> None:
    url, spec_path, clock = stack
    run_partition(url, "2024-01-05")

    fresh = cli("status", "--spec", str(spec_path), job_runner_url=url)
    assert fresh.code == 0, fresh.err
    assert "fresh" in fresh.out and "2024-01-05" in fresh.out and "stale" not in fresh.out
    [line] = check_lines(url)
    assert (line["severity"], line["freshness_stale"]) == ("INFO", False)

    # The schedule breaks: nothing runs 2024-01-06, and time goes on past the 28 h limit.
    clock.now += timedelta(days=1, hours=3)

    stale = cli("status", "--spec", str(spec_path), job_runner_url=url)
    assert stale.code == 0, stale.err
    assert "stale" in stale.out and "31h" in stale.out
    as_json = cli("status", PIPELINE, "--json", "--spec", str(spec_path), job_runner_url=url)
    freshness = json.loads(as_json.out)["freshness"]
    assert (freshness["stale"], freshness["newest_partition_key"]) == (True, "2024-01-05")
    assert freshness["age_seconds"] == 31 * 3600 and freshness["limit_seconds"] == 28 * 3600

    # What the freshness alert's log-based metric counts (dayflow.infra alerts):
    [line] = check_lines(url)
    assert line["severity"] == "ERROR"
    assert line["freshness_stale"] is True
    assert line["logging.googleapis.com/labels"] == {"pipeline": PIPELINE}
    assert line["message"] == (
        f"freshness of {PIPELINE}: newest 2024-01-05, 31h old (limit 28h) STALE"
    )
