"""A run longer than Workflows' HTTP timeout runs once, and the workflow sees its outcome.

Workflows' `http.post` waits at most 1,800 s for an answer
(https://cloud.google.com/workflows/docs/http-requests). The engine runs on a fake clock; the
transport below makes time pass on that clock while a request is pending and fails the request
with a timeout once it has waited longer than its `timeout`, as Workflows would. The job-runner
runs in this process over the BigQuery emulator, except that stg_orders' BigQuery job takes
40 fake minutes (tests/job_runner/slow_bigquery.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from dayflow.ledger import RunLedger, get_ledger_ref
from dayflow.local.stack import create_warehouse
from dayflow.spec import load_spec
from dayflow.warehouse import make_bigquery_client
from dayflow.workflows_engine import FakeClock, WorkflowEngine
from job_runner.core.config import JobRunnerSettings
from job_runner.domain.runner import JobRunner
from job_runner.main import create_app
from tests.conftest import Server, write_spec
from tests.job_runner.slow_bigquery import SlowJobsClient
from tests.workflows.conftest import WORKFLOWS

pytestmark = pytest.mark.emulator

JOB_MINUTES = 40
# Fake seconds that pass per real second while a request is pending: the workflows' 300 s
# timeout of a job-runner call takes 20 real seconds, far more than any answer needs.
FAKE_SECONDS_PER_REAL_SECOND = 15.0
# The job-runner's hold (real seconds): longer than its real work after the fake job ends (the
# emulator's part), so the workflow does not spin through polls meanwhile (sys.sleep is instant).
HOLD_SECONDS = 1.0


class FakeTimeTransport(httpx.BaseTransport):
    """Real HTTP, but waiting for the answer advances `clock`, and an answer later than the
    request's timeout (in fake seconds) is a timeout, as in Workflows."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._inner = httpx.HTTPTransport()
        self._pool = ThreadPoolExecutor(8)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeout = float(request.extensions.get("timeout", {}).get("read") or 1800)
        started, started_real = self._clock.now(), time.monotonic()

        def send() -> httpx.Response:
            response = self._inner.handle_request(request)
            content = response.read()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        future = self._pool.submit(send)
        while True:
            try:
                return future.result(timeout=0.02)
            except TimeoutError:
                # This request's own wait, so that concurrent requests do not add up.
                waited = (time.monotonic() - started_real) * FAKE_SECONDS_PER_REAL_SECOND
                ahead = (started + timedelta(seconds=waited) - self._clock.now()).total_seconds()
                if ahead > 0:
                    self._clock.advance(ahead)
            if waited > timeout:
                raise httpx.ReadTimeout("no answer within the request's timeout", request=request)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._inner.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slow_client(bigquery_endpoint: str, clock: FakeClock) -> Iterator[SlowJobsClient]:
    submitted: dict[str, datetime] = {}
    lock = threading.Lock()

    def finished(job_id: str) -> bool:
        with lock:
            since = submitted.setdefault(job_id, clock.now())
        return clock.now() - since >= timedelta(minutes=JOB_MINUTES)

    client = make_bigquery_client("local", bigquery_endpoint)
    yield SlowJobsClient(client, "_stg_orders_", finished)
    client.close()


def test_a_run_longer_than_the_workflows_http_timeout_runs_once_and_the_workflow_sees_it(
    tmp_path: Path, bigquery_endpoint: str, clock: FakeClock, slow_client: SlowJobsClient
) -> None:
    spec_path = write_spec(tmp_path)
    spec = load_spec(spec_path)
    env = spec.get_environment("local")
    create_warehouse(spec, bigquery_endpoint)
    app = create_app(JobRunnerSettings(spec_path=spec_path, bigquery_endpoint=bigquery_endpoint))
    # The runner reads time from the fake clock: leases and the suggested poll delays follow it.
    app.state.runner = JobRunner(
        spec,
        "local",
        slow_client,  # type: ignore[arg-type]
        RunLedger(slow_client, get_ledger_ref("local", env.dataset_prefix), now=clock.now),  # type: ignore[arg-type]
        run_hold_seconds=HOLD_SECONDS,
        now=clock.now,
    )
    transport = FakeTimeTransport(clock)
    with Server(app) as server, httpx.Client(transport=transport) as http:
        engine = WorkflowEngine(clock=clock, http_client=http, env={"JOB_RUNNER_URL": server.url})
        engine.deploy_directory(WORKFLOWS)
        started = clock.now()

        execution = engine.run(
            "run_partition", {"pipeline": "shop_daily", "partition_key": "2024-01-02"}
        )
        engine.close()

    assert execution.state == "SUCCEEDED", execution.error
    assert clock.now() - started >= timedelta(minutes=JOB_MINUTES)
    outcome = execution.result_value["jobs"]["stg_orders"]
    assert (outcome["status"], outcome["attempt"]) == ("succeeded", 1)
    assert outcome["rows_written"] > 0
    # One BigQuery job, ever: no retry started a second attempt (or a second job) meanwhile.
    assert len(slow_client.slow_job_ids) == 1
    assert slow_client.slow_job_ids[0].endswith("_r0")
    # The workflow polled with growing delays: fewer polls than minutes of the run, not hundreds.
    # (A dozen or so on a quiet machine; under load each request waits longer in real time, so
    # the fake clock's steps shift and the count moves a little: the bound comes from the run.)
    polls = [s for s in clock.sleeps if s >= 5]
    assert 3 <= len(polls) < JOB_MINUTES, str(clock.sleeps)
