"""The job-runner logs one line per state change of a run, with the run's labels and the
request's trace (from `traceparent`), through the real app over HTTP."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dayflow.logs import CloudLoggingFormatter
from dayflow.spec import BigQuerySqlJob, load_spec
from tests.job_runner.conftest import App, start_app

pytestmark = pytest.mark.emulator

TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def api(tmp_path: Path, bigquery_endpoint: str) -> Iterator[App]:
    yield from start_app(tmp_path, bigquery_endpoint, None)


@pytest.fixture
def run_lines() -> Iterator[io.StringIO]:
    """What the `dayflow.runs` logger writes, as Cloud Logging JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter("acme-dev"))
    logger = logging.getLogger("dayflow.runs")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # as the served app does (dayflow.logs)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_each_state_change_of_a_run_is_one_labelled_line_in_the_request_trace(
    api: App, run_lines: io.StringIO
) -> None:
    spec = load_spec(api.spec_path)
    pipeline, job = next(
        (p, j)
        for p, pipe in spec.pipelines.items()
        for j, job in pipe.jobs.items()
        if isinstance(job, BigQuerySqlJob) and not job.depends_on
    )
    key = spec.pipelines[pipeline].start
    body = {"pipeline": pipeline, "job": job, "partition_key": key, "request_key": "exec-1"}
    headers = {"traceparent": f"00-{TRACE}-b7ad6b7169203331-01"}

    outcome = api.http.post("/runs", json=body, headers=headers).json()
    run_url = f"/runs/{outcome['run_id']}"
    deadline = time.monotonic() + 300  # the run's own work bounds it, not a guess
    while outcome["status"] in ("queued", "running") and time.monotonic() < deadline:
        outcome = api.http.get(run_url).json()
    assert outcome["status"] in ("succeeded", "failed"), outcome

    lines: list[dict[str, Any]] = [json.loads(line) for line in run_lines.getvalue().splitlines()]
    assert [line["status"] for line in lines] == ["running", outcome["status"]]
    running, final = lines
    assert running["severity"] == "INFO"
    assert final["severity"] == ("INFO" if outcome["status"] == "succeeded" else "ERROR")
    assert final["message"] == f"run {outcome['run_id']} {outcome['status']}" + (
        " (permanent)" if outcome["status"] == "failed" else ""
    )
    for line in lines:
        labels = line["logging.googleapis.com/labels"]
        assert labels["pipeline"] == pipeline and labels["job"] == job
        assert labels["partition_key"] == key and labels["attempt"] == "1"
        assert labels["execution"] == "exec-1"
        # The run itself executes in a pool thread: it still carries the request's trace.
        assert line["logging.googleapis.com/trace"] == f"projects/acme-dev/traces/{TRACE}"
