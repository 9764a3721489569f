"""The status page's grid for 400 partitions x 5 jobs: the real route, end to end, and its parts.

A BigQuery emulator (local-bigquery, as `dayflow local up` starts it) holds a ledger with one
succeeded run per (partition, job) (every tenth partition failed); the real job-runner app serves
`GET /ui/pipelines/daily?start=...&end=...` under uvicorn on 127.0.0.1, read over HTTP. Also
timed: the ledger read alone (`RunLedger.get_states`) and the page built from states already read
(`build_grid` + the template), so the figure says where the time goes.

Figures (one JSON object on stdout), medians of REPEATS requests after one warm-up request:
`route_seconds` (HTTP, end to end), `ledger_seconds`, `render_seconds`, `select_1_seconds` (the
emulator's cost of any query: the floor under the ledger read), the page's size, the machine's
load average, and whether the route is under the one-second goal of issue 12.

Usage: .venv/bin/python bench/ui.py
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from dayflow.ledger import RunLedger, RunRecord, get_ledger_ref
from dayflow.local.process import get_free_port, stop_process
from dayflow.local.stack import create_warehouse, start_bigquery
from dayflow.spec import load_spec
from dayflow.warehouse import make_bigquery_client
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from job_runner.ui import routes, views

PARTITIONS, JOBS, REPEATS = 400, [f"job_{i}" for i in range(5)], 5
FIRST = date(2023, 1, 1)
KEYS = [(FIRST + timedelta(days=i)).isoformat() for i in range(PARTITIONS)]


def write_spec(directory: Path) -> Path:
    (directory / "a.sql").write_text("SELECT @partition_date AS day\n")
    job: dict[str, Any] = {"kind": "bigquery_sql", "sql": "a.sql",
           "destination": {"dataset": "bench", "table": "t", "partition_field": "day"}}  # fmt: skip
    spec = {
        "version": 1, "name": "uibench",
        "environments": {"local": {"gcp_project": "local", "dataset_prefix": "uibench_"}},
        "pipelines": {"daily": {
            "granularity": "day", "timezone": "UTC", "schedule": "0 2 * * *",
            "start": FIRST.isoformat(),
            "jobs": {name: {**job, "destination": {**job["destination"], "table": name}}
                     for name in JOBS}}},
    }  # fmt: skip
    path = directory / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def fill_ledger(ledger: RunLedger) -> None:
    at = datetime(2024, 3, 1, tzinfo=UTC)
    records = [
        RunRecord("daily", job, key, date.fromisoformat(key), 1,
                  "failed" if i % 10 == 0 and job == JOBS[0] else "succeeded",
                  error="boom" if i % 10 == 0 else None, rows_written=1000 + i,
                  duration_seconds=2.5, recorded_at=at)
        for i, key in enumerate(KEYS) for job in JOBS
    ]  # fmt: skip
    for n in range(0, len(records), 500):
        ledger.record(*records[n : n + 500])


def timed(call: Any, repeats: int = REPEATS) -> tuple[float, Any]:
    call()  # warm-up: imports, the runner built on first use, the emulator's caches
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    # One JSON object on stdout: not the ledger's line per recorded state, nor start-up notices.
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        endpoint = start_bigquery(directory, get_free_port())
        try:
            spec_path = write_spec(directory)
            create_warehouse(load_spec(spec_path), endpoint)
            client = make_bigquery_client("local", endpoint)
            ledger = RunLedger(client, get_ledger_ref("local", "uibench_"))
            fill_ledger(ledger)
            app = create_app(JobRunnerSettings(spec_path=spec_path, bigquery_endpoint=endpoint))
            port = get_free_port()
            server = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
            )
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.01)
            url = f"/ui/pipelines/daily?start={KEYS[0]}&end={KEYS[-1]}"
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                route_seconds, page = timed(lambda: http.get(url).raise_for_status())
            server.should_exit = True
            thread.join(10)
            first, last = date.fromisoformat(KEYS[0]), date.fromisoformat(KEYS[-1])
            ledger_seconds, states = timed(lambda: ledger.get_states("daily", first, last))
            # The emulator's floor: any query costs this much on this machine.
            select1_seconds, _ = timed(lambda: list(client.query_and_wait("SELECT 1")))
            render_seconds, _ = timed(
                lambda: routes._ENV.get_template("grid.html").render(
                    grid=views.build_grid("daily", JOBS, KEYS[::-1], states),
                    may_start=True, statuses=sorted(views.KNOWN_STATUSES),
                )
            )  # fmt: skip
            client.close()  # type: ignore[no-untyped-call]
        finally:
            stop_process("bigquery", directory)
    print(json.dumps({
        "partitions": PARTITIONS, "jobs": len(JOBS), "cells": PARTITIONS * len(JOBS),
        "route_seconds": round(route_seconds, 3), "ledger_seconds": round(ledger_seconds, 3),
        "select_1_seconds": round(select1_seconds, 3),
        "render_seconds": round(render_seconds, 3), "page_bytes": len(page.content),
        "states": len(states), "under_one_second": route_seconds < 1.0,
        "load_average_1m": round(os.getloadavg()[0], 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
