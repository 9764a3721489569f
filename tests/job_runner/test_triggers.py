"""POST /triggers starts the partition a schedule time processes exactly once: after a failed
start, under concurrent deliveries, and for schedule times that map to one partition.

Cloud Scheduler sends X-CloudScheduler-ScheduleTime, "the job schedule time in RFC3339 UTC
Zulu format" (https://cloud.google.com/workflows/docs/reference/googleapis/cloudscheduler/v1/Overview,
HttpTarget headers), and retries a non-2xx delivery with backoff from 5 s
(https://cloud.google.com/sdk/gcloud/reference/scheduler/jobs/create/http, --min-backoff).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from dayflow.executions import WorkflowsExecutions
from dayflow.local.process import get_free_port
from dayflow.workflows_engine import WorkflowEngine
from dayflow.workflows_engine.grpc_api import start_grpc_server
from tests.job_runner.conftest import ECHO, LOCATION, App, start_app

pytestmark = pytest.mark.emulator

PIPELINE = "shop_daily"
HEADERS = {"X-CloudScheduler-ScheduleTime": "2024-01-02T01:00:00Z"}  # processes 2024-01-01


def test_retries_after_a_failed_start_start_the_run_exactly_once(
    runner_app: App, engine: WorkflowEngine
) -> None:
    # The first delivery meets a Workflows API that is down: a real client, a dead port.
    live = WorkflowsExecutions("local", LOCATION, runner_app.workflows_endpoint)
    runner_app.app.state.executions = WorkflowsExecutions(
        "local", LOCATION, f"127.0.0.1:{get_free_port()}"
    )
    failed = runner_app.http.post(f"/triggers/{PIPELINE}", headers=HEADERS)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error_kind"] == "transient" and failed.headers["Retry-After"]
    assert engine.list_executions("run_partition") == []

    # Workflows is back: Scheduler's retries arrive, twenty at once.
    runner_app.app.state.executions = live
    with ThreadPoolExecutor(20) as pool:
        responses = list(
            pool.map(
                lambda _: runner_app.http.post(f"/triggers/{PIPELINE}", headers=HEADERS),
                range(20),
            )
        )
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    started = [r.json() for r in responses if not r.json()["duplicate"]]
    assert len(started) == 1 and started[0]["partition_key"] == "2024-01-01"
    (execution,) = engine.list_executions("run_partition")
    assert started[0]["execution"].endswith(f"/executions/{execution.execution_id}")

    later = runner_app.http.post(f"/triggers/{PIPELINE}", headers=HEADERS)
    assert later.status_code == 200 and later.json()["duplicate"]
    assert len(engine.list_executions("run_partition")) == 1


def test_schedule_times_one_second_apart_for_one_partition_start_one_run(
    http: httpx.Client, engine: WorkflowEngine
) -> None:
    first = http.post(
        f"/triggers/{PIPELINE}", headers={"X-CloudScheduler-ScheduleTime": "2024-01-03T01:00:00Z"}
    )
    second = http.post(
        f"/triggers/{PIPELINE}", headers={"X-CloudScheduler-ScheduleTime": "2024-01-03T01:00:01Z"}
    )
    assert first.json()["partition_key"] == second.json()["partition_key"] == "2024-01-02"
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    assert len(engine.list_executions("run_partition")) == 1


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, bigquery_endpoint: str
) -> Iterator[tuple[App, WorkflowEngine]]:
    """One job-runner and engine for the tests that must start nothing."""
    engine = WorkflowEngine(project="local", location=LOCATION)
    engine.deploy("run_partition", ECHO)
    server, port = start_grpc_server(engine, "127.0.0.1", 0)
    for app in start_app(
        tmp_path_factory.mktemp("triggers"), bigquery_endpoint, f"127.0.0.1:{port}"
    ):
        yield app, engine
    server.stop(None)
    engine.close()


@pytest.mark.parametrize(
    ("schedule_time", "detail"),
    [
        ("2090-01-01T00:00:00Z", "is in the future (expected at most 15 minutes after now"),
        ("2023-06-01T01:00:00Z", "processes partition '2023-05-31', before pipeline"),
        ("2024-01-02 01:00", "is not an RFC 3339 time"),
        ("20240102T010000Z", "is not an RFC 3339 time"),
        ("2024-01-02T01:00:00", "is not an RFC 3339 time"),
        ("x" * 60, "is not an RFC 3339 time"),
    ],
)
def test_bad_schedule_times_are_422_and_start_nothing(
    shared: tuple[App, WorkflowEngine], schedule_time: str, detail: str
) -> None:
    app, engine = shared
    response = app.http.post(
        f"/triggers/{PIPELINE}", headers={"X-CloudScheduler-ScheduleTime": schedule_time}
    )
    assert response.status_code == 422
    assert detail in response.json()["detail"]
    assert engine.list_executions("run_partition") == []
