"""The data-quality gate seen from the job-runner: a failing dbt test fails the run permanently,
naming the test, and the run ledger records it with the per-node results."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from dayflow.ledger import ensure_table
from dayflow.tables import LEDGER
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import PROJECT, Server, write_spec

from .semantic_layer import Semantic

pytestmark = pytest.mark.emulator


def test_failing_dbt_test_is_a_permanent_error_naming_it_and_the_ledger_shows_it(
    tmp_path: Path, bigquery_endpoint: str, semantic: Semantic
) -> None:
    spec_path = write_spec(tmp_path, dataset_prefix=semantic.prefix)
    spec = yaml.safe_load(spec_path.read_text())
    job = spec["pipelines"]["shop_events"]["jobs"]["mart_dbt"]
    job["project_dir"] = str(PROJECT / "dbt")
    job["vars"] = {"min_orders_per_partition": 1000}  # 2024-01-05 has 5 orders: the gate fails
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    ensure_table(semantic.client, "local", f"{semantic.prefix}dayflow", LEDGER)
    # The longest hold: POST /runs answers with the dbt run's outcome, not 202 (running).
    settings = JobRunnerSettings(
        spec_path=spec_path, bigquery_endpoint=bigquery_endpoint, run_hold_seconds=300
    )
    with (
        Server(create_app(settings)) as server,
        httpx.Client(base_url=server.url, timeout=300) as http,
    ):
        response = http.post(
            "/runs",
            json={"pipeline": "shop_events", "job": "mart_dbt", "partition_key": "2024-01-05"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["error_kind"] == "permanent"
        assert "daily_sales_dbt_min_orders" in response.json()["detail"]
        status = http.get(
            "/runs", params={"pipeline": "shop_events", "start": "2024-01-05", "end": "2024-01-05"}
        ).json()
    state = status["partitions"][0]["jobs"]["mart_dbt"]
    assert state["status"] == "failed" and "daily_sales_dbt_min_orders" in state["error"]
    (details,) = semantic.query(
        "SELECT details FROM `local.{p}dayflow.dayflow_runs` WHERE job = 'mart_dbt' AND status = 'failed'"
    )
    nodes = {node["name"]: node["status"] for node in details["details"]}
    assert nodes["daily_sales_dbt_min_orders"] == "failed"
