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
                "concurrency": 101,
            },
            "concurrency: Input should be less than or equal to 100 (got 101)",
        ),
        (
            {"pipeline": "shop_daily", "partition_keys": ["2024-02-30"]},
            "partition_key '2024-02-30' is not a date (expected YYYY-MM-DD)",
        ),
    ],
)
@pytest.mark.parametrize("path", ["/backfills", "/backfills/plan"])
def test_bad_backfill_requests_are_422_naming_the_value(
    http: httpx.Client, body: dict[str, object], detail: str, path: str
) -> None:
    response = http.post(path, json=body)
    assert response.status_code == 422
    assert detail in response.json()["detail"]


def test_plan_splits_a_backfill_into_lanes_of_at_most_20_adding_up_to_the_concurrency(
    http: httpx.Client,
) -> None:
    body = {"pipeline": "shop_daily", "start": "2024-01-01", "end": "2024-01-30"}

    plan = http.post("/backfills/plan", json={**body, "concurrency": 50}).json()

    assert [lane["concurrency"] for lane in plan["lanes"]] == [17, 17, 16]
    chunks = [chunk for lane in plan["lanes"] for chunk in lane["chunks"]]
    assert [c["partitions"] for c in chunks] == [10, 10, 10]
    assert [c["partition_jobs"] for c in chunks] == [30, 30, 30]
    assert sorted((c["request"]["start"], c["request"]["end"]) for c in chunks) == [
        ("2024-01-01", "2024-01-10"),
        ("2024-01-11", "2024-01-20"),
        ("2024-01-21", "2024-01-30"),
    ]
    assert plan["summary"] == {
        "pipeline": "shop_daily",
        "order": "asc",
        "only": "all",
        "chunks": 3,
        "partitions": 30,
        "partition_jobs": 90,
        "skipped": 0,
        "skipped_keys": [],
    }
    assert plan["partition_plans"] is None  # the parent never holds the waves
    # A chunk's own request lists its partitions' waves.
    chunk = http.post("/backfills/plan", json=chunks[1]["request"]).json()
    assert [p["partition_key"] for p in chunk["partition_plans"]][:2] == [
        "2024-01-11",
        "2024-01-12",
    ]
    assert chunk["partition_plans"][0]["waves"] == [
        ["dim_customers", "stg_orders"],
        ["mart_daily_sales"],
    ]


def test_plan_of_a_key_list_chunks_keys_and_reports_the_expected_wall_time(
    http: httpx.Client,
) -> None:
    keys = [f"2024-01-{d:02d}" for d in range(1, 8)]
    body = {"pipeline": "shop_daily", "partition_keys": keys, "order": "desc"}

    plan = http.post(
        "/backfills/plan", json={**body, "chunk_size": 3, "concurrency": 2, "job_seconds": 10}
    ).json()

    (lane,) = plan["lanes"]
    assert [c["request"]["partition_keys"] for c in lane["chunks"]] == [
        keys[6:3:-1],
        keys[3:0:-1],
        keys[:1],
    ]
    # 3 chunks in turn, 2 partitions at once, 2 waves of 10 s each: (2 + 2 + 1) x 20 s.
    assert plan["expected_seconds"] == 100.0
    dry = http.post("/backfills", json={**body, "dry_run": True, "job_seconds": 10}).json()
    assert (dry["num_chunks"], dry["num_lanes"], dry["skipped"]) == (1, 1, 0)
    assert dry["expected_seconds"] == 40.0  # 4 at once: 2 rounds of 20 s


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
