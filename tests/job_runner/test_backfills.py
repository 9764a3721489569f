"""Triggers and backfills start executions on the local Workflows engine over its gRPC API,
through the real google-cloud-workflows client (fixtures in conftest.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from dayflow.ledger import RunLedger, RunRecord, get_ledger_ref
from dayflow.spec import load_spec
from dayflow.warehouse import make_bigquery_client
from dayflow.workflows_engine import WorkflowEngine
from tests.job_runner.conftest import App

pytestmark = pytest.mark.emulator


def test_duplicate_schedule_time_starts_one_execution(
    http: httpx.Client, engine: WorkflowEngine
) -> None:
    headers = {"X-CloudScheduler-ScheduleTime": "2024-01-02T01:00:00Z"}  # 02:00 in Stockholm
    first = http.post("/triggers/shop_daily", headers=headers)
    second = http.post("/triggers/shop_daily", headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["partition_key"] == "2024-01-01" and not first.json()["duplicate"]
    assert second.json()["duplicate"] and second.json()["execution"] is None
    executions = engine.list_executions("run_partition")
    assert len(executions) == 1
    executions[0].wait(10)
    assert executions[0].result_value == {"pipeline": "shop_daily", "partition_key": "2024-01-01"}


def test_catch_up_backfills_missing_partitions_in_the_window(
    http: httpx.Client, engine: WorkflowEngine
) -> None:
    response = http.post(
        "/triggers/shop_daily", headers={"X-CloudScheduler-ScheduleTime": "2024-01-10T01:00:00Z"}
    )
    assert response.json()["partition_key"] == "2024-01-09"
    assert response.json()["catch_up_execution"]
    (backfill,) = engine.list_executions("backfill")
    backfill.wait(10)
    assert backfill.result_value is not None
    assert {k: backfill.result_value[k] for k in ("start", "end", "only")} == {
        "start": "2024-01-02",
        "end": "2024-01-08",
        "only": "missing",
    }


def test_trigger_without_schedule_time_is_a_clear_422(http: httpx.Client) -> None:
    response = http.post("/triggers/shop_daily")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("header X-CloudScheduler-ScheduleTime is missing")


def test_dry_run_backfill_returns_the_plan_and_its_cost_without_starting(
    http: httpx.Client, engine: WorkflowEngine
) -> None:
    response = http.post(
        "/backfills",
        json={
            "pipeline": "shop_daily",
            "start": "2024-01-01",
            "end": "2024-01-07",
            "dry_run": True,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["num_partitions"], body["num_partition_jobs"]) == (7, 21)
    assert body["estimated_workflow_steps"] > 0 and body["execution"] is None
    assert engine.list_executions("backfill") == []


def test_backfill_starts_an_execution_with_its_arguments(
    http: httpx.Client, engine: WorkflowEngine
) -> None:
    response = http.post(
        "/backfills",
        json={
            "pipeline": "shop_daily",
            "start": "2024-01-01",
            "end": "2024-01-03",
            "order": "desc",
            "concurrency": 2,
        },
    )
    body = response.json()
    assert body["backfill_id"].startswith("bf-shop_daily-")
    (execution,) = engine.list_executions("backfill")
    execution.wait(10)
    assert execution.result_value == {
        "pipeline": "shop_daily",
        "start": "2024-01-01",
        "end": "2024-01-03",
        "order": "desc",
        "only": "all",
        "concurrency": 2,
        "dry_run": False,
        "backfill_id": body["backfill_id"],
    }


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"pipeline": "shop_daily", "start": "2024-01-05", "end": "2024-01-01"},
            "start '2024-01-05' is after end '2024-01-01' (expected start <= end)",
        ),
        (
            {"pipeline": "shop_daily", "start": "2024-01-01"},
            "expected either start and end, or partition_keys",
        ),
        (
            {
                "pipeline": "shop_daily",
                "start": "2024-01-01",
                "end": "2024-01-02",
                "concurrency": 21,
            },
            "concurrency: Input should be less than or equal to 20 (got 21)",
        ),
        (
            {"pipeline": "shop_daily", "partition_keys": ["2024-02-30"]},
            "partition_key '2024-02-30' is not a date (expected YYYY-MM-DD)",
        ),
    ],
)
def test_bad_backfill_requests_are_422_naming_the_value(
    http: httpx.Client, body: dict[str, object], detail: str
) -> None:
    response = http.post("/backfills", json=body)
    assert response.status_code == 422
    assert detail in response.json()["detail"]


def test_backfill_progress_counts_a_stale_run_as_failed(
    runner_app: App, bigquery_endpoint: str
) -> None:
    # A job-runner died mid-run: its `running` row's lease has expired, and no final row follows.
    env = load_spec(runner_app.spec_path).get_environment("local")
    expired = datetime.now(UTC) - timedelta(minutes=1)
    with make_bigquery_client("local", bigquery_endpoint) as client:
        ledger = RunLedger(client, get_ledger_ref("local", env.dataset_prefix))
        for key, status, lease in [
            ("2024-01-02", "running", expired),
            ("2024-01-03", "succeeded", None),
        ]:
            ledger.record(
                RunRecord(
                    pipeline="shop_daily",
                    job="stg_orders",
                    partition_key=key,
                    partition_date=date.fromisoformat(key),
                    attempt=1,
                    status=status,  # type: ignore[arg-type]
                    backfill_id="bf_stale",
                    lease_expires_at=lease,
                )
            )
    progress = runner_app.http.get("/backfills/bf_stale").json()
    assert progress["failed_keys"] == ["2024-01-02"]
    assert (progress["succeeded"], progress["failed"], progress["running"]) == (1, 1, 0)
