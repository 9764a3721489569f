"""A job-runner killed mid-write (kill -9) leaves a run that turns stale, and a rerun is exact.

The crashed process is a real uvicorn job-runner (as `dayflow local up` starts it) whose
stg_orders run hangs once its BigQuery transaction is submitted (fault injection), then gets
SIGKILL. The rest runs on an in-process job-runner whose clock is past the crashed run's lease.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dayflow.ledger import RunLedger, get_ledger_ref
from dayflow.local.process import get_free_port, get_process, start_process, stop_process
from dayflow.local.stack import create_warehouse
from dayflow.spec import load_spec
from dayflow.warehouse import make_bigquery_client
from job_runner.core.config import JobRunnerSettings
from job_runner.domain.lifecycle import LEASE_MARGIN_SECONDS
from job_runner.domain.runner import JobRunner
from job_runner.main import create_app
from tests.conftest import ROOT, Server, write_spec

pytestmark = pytest.mark.emulator

PIPELINE, KEY = "shop_daily", "2024-01-09"
JOBS = ["stg_orders", "dim_customers", "mart_daily_sales"]  # in dependency order


def _start_crashing_runner(spec_path: Path, state: Path, bigquery_endpoint: str) -> str:
    state.mkdir(parents=True, exist_ok=True)
    faults = state / "faults.json"
    faults.write_text(f'{{"hang_after_submit": ["{KEY}"]}}')
    port = get_free_port()
    proc = start_process(
        "job_runner",
        [sys.executable, "-m", "uvicorn", "job_runner.main:app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--log-level", "warning"],
        port=port,
        state_dir=state,
        env={
            "JOB_RUNNER_ENV": "local",
            "JOB_RUNNER_SPEC_PATH": str(spec_path),
            "JOB_RUNNER_BIGQUERY_ENDPOINT": bigquery_endpoint,
            "JOB_RUNNER_FAULTS_FILE": str(faults),
            "JOB_RUNNER_RUN_HOLD_SECONDS": "0",
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "src"), str(ROOT / "services"), os.environ.get("PYTHONPATH", "")]
            ),
        },
    )  # fmt: skip
    return proc.url


def _serve(spec_path: Path, bigquery_endpoint: str, now: Any) -> Server:
    spec = load_spec(spec_path)
    env = spec.get_environment("local")
    client = make_bigquery_client("local", bigquery_endpoint)
    app = create_app(JobRunnerSettings(spec_path=spec_path, bigquery_endpoint=bigquery_endpoint))
    ledger = RunLedger(client, get_ledger_ref("local", env.dataset_prefix), now=now)
    app.state.runner = JobRunner(spec, "local", client, ledger, now=now)
    return Server(app)


def _run_partition(http: httpx.Client) -> None:
    for job in JOBS:
        response = http.post("/runs", json={"pipeline": PIPELINE, "job": job, "partition_key": KEY})
        assert response.status_code == 200, response.text


def _checksums(http: httpx.Client) -> list[tuple[int, str]]:
    response = http.get(f"/pipelines/{PIPELINE}/checksums", params={"start": KEY, "end": KEY})
    assert response.status_code == 200, response.text
    return [(t["rows"], t["fingerprint"]) for t in response.json()["partitions"][0]["tables"]]


@pytest.fixture
def spec_paths(tmp_path: Path, bigquery_endpoint: str) -> Iterator[tuple[Path, Path]]:
    """Two spec copies with their own datasets: one crashes, one runs clean."""
    paths = []
    for name in ("crashed", "clean"):
        (tmp_path / name).mkdir()
        path = write_spec(tmp_path / name)
        create_warehouse(load_spec(path), bigquery_endpoint)
        paths.append(path)
    yield paths[0], paths[1]


def test_a_run_killed_mid_write_turns_stale_and_a_rerun_equals_a_clean_run(
    tmp_path: Path, bigquery_endpoint: str, spec_paths: tuple[Path, Path]
) -> None:
    crashed_spec, clean_spec = spec_paths
    state = tmp_path / "state"
    url = _start_crashing_runner(crashed_spec, state, bigquery_endpoint)
    try:
        body = {"pipeline": PIPELINE, "job": "stg_orders", "partition_key": KEY}
        response = httpx.post(f"{url}/runs", json=body, timeout=60)
        assert response.status_code == 202, response.text
        hanging = state / f"faults.json.hanging-{KEY}"
        while not hanging.exists():  # the transaction is submitted; the run now hangs
            assert httpx.get(f"{url}/healthz", timeout=60).status_code == 200
            time.sleep(0.05)
        running = httpx.get(f"{url}/runs/{PIPELINE}/stg_orders/{KEY}/1", timeout=60)
        assert (running.status_code, running.json()["status"]) == (202, "running")
        process = get_process("job_runner", state)
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the group is this process
    finally:
        stop_process("job_runner", state)

    # Later than the crashed run's lease (the job's timeout plus the margin).
    timeout = load_spec(crashed_spec).get_pipeline(PIPELINE).jobs["stg_orders"].timeout_seconds
    shift = timedelta(seconds=timeout + LEASE_MARGIN_SECONDS + 60)
    with (
        _serve(crashed_spec, bigquery_endpoint, lambda: datetime.now(UTC) + shift) as server,
        httpx.Client(base_url=server.url, timeout=120) as http,
    ):
        status = http.get("/runs", params={"pipeline": PIPELINE, "start": KEY, "end": KEY})
        assert status.json()["partitions"][0]["jobs"]["stg_orders"]["status"] == "stale"
        polled = http.get(f"/runs/{PIPELINE}/stg_orders/{KEY}/1")
        assert (polled.status_code, polled.json()["error_kind"]) == (503, "transient")
        assert "stale" in polled.json()["detail"]
        for only in ("failed", "missing"):
            plan = http.get(
                f"/pipelines/{PIPELINE}/plan", params={"start": KEY, "end": KEY, "only": only}
            ).json()
            assert "stg_orders" in plan["partitions"][0]["waves"][0], only
        _run_partition(http)
        after_rerun = _checksums(http)
        rerun_status = http.get("/runs", params={"pipeline": PIPELINE, "start": KEY, "end": KEY})
        stg = rerun_status.json()["partitions"][0]["jobs"]["stg_orders"]
        assert (stg["status"], stg["attempt"]) == ("succeeded", 2)

    with (
        _serve(clean_spec, bigquery_endpoint, lambda: datetime.now(UTC)) as server,
        httpx.Client(base_url=server.url, timeout=120) as http,
    ):
        _run_partition(http)
        assert after_rerun == _checksums(http)
        assert after_rerun[0][0] > 0
