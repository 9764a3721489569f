"""Permanent failures are recorded in the ledger and answered with a 4xx, never retried."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from dayflow.local.stack import create_warehouse
from dayflow.spec import load_spec
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server, write_spec

pytestmark = pytest.mark.emulator


@pytest.fixture
def broken_runner(tmp_path: Path, bigquery_endpoint: str):  # type: ignore[no-untyped-def]
    spec_path = write_spec(tmp_path)
    spec = yaml.safe_load(spec_path.read_text())
    bad_sql = tmp_path / "bad.sql"
    bad_sql.write_text("SELECT @partition_date AS d, no_such_column FROM raw.orders")
    outside_sql = tmp_path / "outside.sql"
    outside_sql.write_text("SELECT DATE '1999-01-01' AS d")
    jobs = spec["pipelines"]["shop_daily"]["jobs"]
    jobs["broken"] = {
        "kind": "bigquery_sql",
        "sql": str(bad_sql),
        "destination": {"dataset": "staging", "table": "broken", "partition_field": "d"},
    }
    jobs["outside"] = {
        "kind": "bigquery_sql",
        "sql": str(outside_sql),
        "destination": {"dataset": "staging", "table": "outside", "partition_field": "d"},
    }
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    create_warehouse(load_spec(spec_path), bigquery_endpoint)
    with (
        Server(
            create_app(JobRunnerSettings(spec_path=spec_path, bigquery_endpoint=bigquery_endpoint))
        ) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        yield http


def test_sql_error_is_permanent_422_and_the_ledger_says_failed(broken_runner: httpx.Client) -> None:
    response = broken_runner.post(
        "/runs", json={"pipeline": "shop_daily", "job": "broken", "partition_key": "2024-01-02"}
    )
    assert response.status_code == 422
    assert response.json()["error_kind"] == "permanent"
    status = broken_runner.get(
        "/runs", params={"pipeline": "shop_daily", "start": "2024-01-02", "end": "2024-01-02"}
    ).json()
    state = status["partitions"][0]["jobs"]["broken"]
    assert state["status"] == "failed" and state["error"]
    plan = broken_runner.get(
        "/pipelines/shop_daily/plan",
        params={"start": "2024-01-02", "end": "2024-01-02", "only": "failed"},
    ).json()
    assert plan["partitions"][0]["waves"] == [["broken"]]


def test_rows_outside_the_partition_fail_the_run_and_write_nothing(
    broken_runner: httpx.Client,
) -> None:
    response = broken_runner.post(
        "/runs", json={"pipeline": "shop_daily", "job": "outside", "partition_key": "2024-01-02"}
    )
    assert response.status_code == 422
    assert "every row must fall in the partition being written" in response.json()["detail"]
