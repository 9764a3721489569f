"""Health checks and reads answer while many runs are in flight: runs have a pool of their own."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from dayflow.ledger import ensure_table
from dayflow.spec import load_spec
from dayflow.tables import LEDGER
from dayflow.warehouse import make_bigquery_client
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server, write_spec

pytestmark = pytest.mark.emulator

RUNS = 60
KEYS = [(date(2024, 2, 1) + timedelta(days=i)).isoformat() for i in range(RUNS)]


def _write_faults(path: Path, config: dict[str, list[str]]) -> None:
    """Replace the faults file atomically (the job-runner re-reads it while runs wait)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config))
    tmp.replace(path)


@pytest.fixture
def faults(tmp_path: Path) -> Path:
    path = tmp_path / "faults.json"
    # Held until released; then they fail at once (no BigQuery work), to end the test quickly.
    _write_faults(path, {"hold_partitions": KEYS, "permanent_partitions": KEYS})
    return path


@pytest.fixture
def http(tmp_path: Path, bigquery_endpoint: str, faults: Path) -> Iterator[httpx.Client]:
    spec_path = write_spec(tmp_path)
    env = load_spec(spec_path).get_environment("local")
    with make_bigquery_client("local", bigquery_endpoint) as client:
        ensure_table(client, "local", env.get_dataset_id(LEDGER.dataset), LEDGER)
    settings = JobRunnerSettings(
        spec_path=spec_path,
        bigquery_endpoint=bigquery_endpoint,
        faults_file=faults,
        max_concurrent_runs=RUNS,
        run_hold_seconds=0,
    )
    with (
        Server(create_app(settings)) as server,
        httpx.Client(base_url=server.url, timeout=120) as c,
    ):
        yield c


def test_healthz_and_reads_answer_while_sixty_runs_are_in_flight(
    http: httpx.Client, faults: Path
) -> None:
    def start(key: str) -> int:
        body = {"pipeline": "shop_daily", "job": "stg_orders", "partition_key": key}
        return http.post("/runs", json=body).status_code

    with ThreadPoolExecutor(20) as pool:
        assert set(pool.map(start, KEYS)) == {202}
    while http.get("/stats").json()["runs_in_flight"] < RUNS:  # every run reached the pool
        time.sleep(0.05)

    assert http.get("/healthz").json() == {"status": "ok"}
    grid = http.get("/runs", params={"pipeline": "shop_daily", "start": KEYS[0], "end": KEYS[-1]})
    assert grid.status_code == 200
    assert {p["jobs"]["stg_orders"]["status"] for p in grid.json()["partitions"]} == {"running"}
    # Both answered while all sixty were still in flight (none can end before the release).
    assert http.get("/stats").json()["runs_in_flight"] == RUNS

    _write_faults(faults, {"permanent_partitions": KEYS})
    while http.get("/stats").json()["runs_in_flight"] > 0:
        time.sleep(0.05)
    polled = http.get(f"/runs/shop_daily/stg_orders/{KEYS[0]}/1")
    assert (polled.status_code, polled.json()["error_kind"]) == (422, "permanent")
