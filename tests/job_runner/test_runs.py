"""The job-runner over real HTTP against the BigQuery emulator.

(Reruns and concurrent runs through the whole local stack are tested by the example project's
own tests, through the dayflow.testing plugin.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dayflow.local.stack import create_warehouse
from dayflow.spec import load_spec
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server, write_spec

pytestmark = pytest.mark.emulator

PIPELINE = "shop_daily"
JOBS = ["stg_orders", "dim_customers", "mart_daily_sales"]


def run_partition(http: httpx.Client, key: str, attempt: int | None = None) -> list[dict[str, Any]]:
    outcomes = []
    for job in JOBS:  # waves: stg_orders and dim_customers, then mart_daily_sales
        body: dict[str, Any] = {"pipeline": PIPELINE, "job": job, "partition_key": key}
        if attempt is not None:
            body["attempt"] = attempt
        response = _await(http, http.post("/runs", json=body))
        assert response.status_code == 200, response.text
        outcomes.append(response.json())
    return outcomes


@pytest.fixture
def http(job_runner: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=job_runner.url, timeout=120) as client:
        yield client


def test_a_retried_request_with_the_same_attempt_reuses_the_bigquery_job(
    http: httpx.Client,
) -> None:
    body = {"pipeline": PIPELINE, "job": "stg_orders", "partition_key": "2024-01-09", "attempt": 1}
    first = _await(http, http.post("/runs", json=body)).json()
    again = _await(http, http.post("/runs", json=body)).json()
    assert again["bigquery_job_id"] == first["bigquery_job_id"]
    assert again["rows_written"] == first["rows_written"]


def test_plan_only_missing_and_only_failed_read_the_ledger(http: httpx.Client) -> None:
    run_partition(http, "2024-01-10")
    params = {"start": "2024-01-10", "end": "2024-01-11"}
    missing = http.get(f"/pipelines/{PIPELINE}/plan", params={**params, "only": "missing"}).json()
    assert [p["partition_key"] for p in missing["partitions"]] == ["2024-01-11"]
    assert missing["partitions"][0]["waves"] == [
        ["dim_customers", "stg_orders"],
        ["mart_daily_sales"],
    ]
    failed = http.get(f"/pipelines/{PIPELINE}/plan", params={**params, "only": "failed"}).json()
    assert failed["partitions"] == []


@pytest.mark.parametrize(
    ("body", "code", "detail"),
    [
        (
            {"pipeline": "nope", "job": "stg_orders", "partition_key": "2024-01-01"},
            404,
            "unknown pipeline 'nope' (expected one of: shop_daily, shop_events)",
        ),
        (
            {"pipeline": PIPELINE, "job": "nope", "partition_key": "2024-01-01"},
            404,
            "unknown job 'nope' in pipeline 'shop_daily'",
        ),
        (
            {"pipeline": PIPELINE, "job": "stg_orders", "partition_key": "2024-13-01"},
            422,
            "partition_key '2024-13-01' is not a date (expected YYYY-MM-DD)",
        ),
        (
            {
                "pipeline": PIPELINE,
                "job": "stg_orders",
                "partition_key": "2024-01-01",
                "attempt": 0,
            },
            422,
            "attempt: Input should be greater than or equal to 1 (got 0)",
        ),
    ],
)
def test_bad_requests_get_a_clear_4xx(
    http: httpx.Client, body: dict[str, Any], code: int, detail: str
) -> None:
    response = http.post("/runs", json=body)
    assert response.status_code == code
    assert detail in response.json()["detail"]


def test_bad_plan_range_is_422_naming_the_values(http: httpx.Client) -> None:
    response = http.get(
        f"/pipelines/{PIPELINE}/plan", params={"start": "2024-01-05", "end": "2024-01-01"}
    )
    assert response.status_code == 422
    assert (
        response.json()["detail"]
        == "start '2024-01-05' is after end '2024-01-01' (expected start <= end)"
    )


@pytest.fixture
def async_http(tmp_path: Path, bigquery_endpoint: str) -> Iterator[httpx.Client]:
    """A job-runner that answers POST /runs at once (no hold), with a faults file."""
    spec_path = write_spec(tmp_path)
    create_warehouse(load_spec(spec_path), bigquery_endpoint)
    settings = JobRunnerSettings(
        spec_path=spec_path,
        bigquery_endpoint=bigquery_endpoint,
        run_hold_seconds=0,
        faults_file=tmp_path / "faults.json",
    )
    with (
        Server(create_app(settings)) as server,
        httpx.Client(base_url=server.url, timeout=120) as c,
    ):
        yield c


def _await(http: httpx.Client, response: httpx.Response) -> httpx.Response:
    """Poll a 202 answer's run until the answer is not 202."""
    while response.status_code == 202:
        assert int(response.headers["Retry-After"]) == response.json()["retry_after"] >= 5
        time.sleep(0.05)  # locally the run takes a second or two; no need to wait retry_after
        response = http.get(f"/runs/{response.json()['run_id']}")
    return response


def test_a_run_is_started_then_polled_and_a_retry_with_its_request_key_attaches(
    async_http: httpx.Client,
) -> None:
    body = {"pipeline": PIPELINE, "job": "stg_orders", "partition_key": "2024-01-12"}
    started = async_http.post("/runs", json={**body, "request_key": "exec-1"})
    assert started.status_code == 202, started.text
    assert started.json()["run_id"] == f"{PIPELINE}/stg_orders/2024-01-12/1"
    assert started.json()["status"] == "running"
    retried = async_http.post("/runs", json={**body, "request_key": "exec-1"})  # while running
    assert retried.json()["run_id"] == started.json()["run_id"]

    done = _await(async_http, started)

    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["attempt"]) == ("succeeded", 1)
    assert done.json()["rows_written"] > 0
    late = async_http.post("/runs", json={**body, "request_key": "exec-1"})  # after it ended
    assert late.status_code == 200
    assert late.json()["bigquery_job_id"] == done.json()["bigquery_job_id"]
    other = _await(async_http, async_http.post("/runs", json={**body, "request_key": "exec-2"}))
    assert other.json()["attempt"] == 2


def test_a_transient_failure_answers_503_and_a_retry_with_the_key_starts_the_next_attempt(
    async_http: httpx.Client, tmp_path: Path
) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text('{"transient_rate": 1.0}')
    body = {"pipeline": PIPELINE, "job": "stg_orders", "partition_key": "2024-01-13"}

    failed = _await(async_http, async_http.post("/runs", json={**body, "request_key": "exec-1"}))

    assert failed.status_code == 503
    assert failed.json()["error_kind"] == "transient"
    faults.unlink()  # the cause is gone; the caller's retry runs the next attempt
    retried = _await(async_http, async_http.post("/runs", json={**body, "request_key": "exec-1"}))
    assert (retried.status_code, retried.json()["attempt"]) == (200, 2)
    assert async_http.get(f"/runs/{PIPELINE}/stg_orders/2024-01-13/1").status_code == 503
    unknown = async_http.get(f"/runs/{PIPELINE}/stg_orders/2024-01-13/3")
    assert unknown.status_code == 404
