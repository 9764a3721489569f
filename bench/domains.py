"""What many domains cost: the contract check's dry run per write, and `dayflow contract check`.

- `dry_run_ms_*`: the dry run the job-runner adds before each write of an exposed table (it
  reads the SELECT's columns, `dayflow.contracts.check_select_schema`), against the local
  emulator, beside `run_ms_*`: a whole run of that job over HTTP (dry run included).
- `contract_check_seconds`: `dayflow contract check --against HEAD` on the example spec, a fresh
  process each time (interpreter start, imports, two `git` calls, the comparison).
Medians and maxima of repeated calls. Prints one JSON object.

Run: .venv/bin/python bench/domains.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 15


def measure_runs(tmp: Path) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    import httpx
    from google.cloud import bigquery

    from dayflow.local.process import stop_process
    from dayflow.local.stack import create_warehouse, start_bigquery
    from dayflow.seed import seed_sources
    from dayflow.spec import load_spec
    from dayflow.warehouse import make_bigquery_client
    from job_runner.core.config import JobRunnerSettings
    from job_runner.domain.runner import Partition
    from job_runner.main import create_app
    from tests.conftest import Server
    from tests.domains.projects import write_domains

    state = tmp / "bigquery"
    state.mkdir()
    endpoint = start_bigquery(state)
    try:
        sales_dir, _ = write_domains(tmp / "domains")
        spec = load_spec(sales_dir / "dayflow.yaml")
        create_warehouse(spec, endpoint)
        with make_bigquery_client("local", endpoint) as client:
            seed_sources(spec, "local", client)
            job = spec.pipelines["sales_daily"].jobs["daily_events"]
            sql = (spec.root / job.sql).read_text()  # type: ignore[union-attr]
            params = Partition("2024-01-02", spec.pipelines["sales_daily"].scheme)
            config = bigquery.QueryJobConfig(
                dry_run=True, query_parameters=params.get_query_parameters()
            )
            dry = []
            for _ in range(REPEAT):
                start = time.perf_counter()
                client.query(sql, job_config=config)
                dry.append((time.perf_counter() - start) * 1000)
        app = create_app(
            JobRunnerSettings(spec_path=spec.root / "dayflow.yaml", bigquery_endpoint=endpoint)
        )
        runs = []
        with Server(app) as server, httpx.Client(base_url=server.url, timeout=120) as http:
            body = {"pipeline": "sales_daily", "job": "daily_events", "partition_key": "2024-01-02"}
            for attempt in range(1, REPEAT + 1):
                start = time.perf_counter()
                response = http.post("/runs", json={**body, "attempt": attempt})
                while response.status_code == 202:
                    time.sleep(0.02)
                    response = http.get(f"/runs/{response.json()['run_id']}")
                assert response.json()["status"] == "succeeded", response.text
                runs.append((time.perf_counter() - start) * 1000)
    finally:
        stop_process("bigquery", state)
    return {
        "dry_run_ms_median": round(statistics.median(dry), 1),
        "dry_run_ms_max": round(max(dry), 1),
        "run_ms_median": round(statistics.median(runs), 1),
        "run_ms_max": round(max(runs), 1),
    }


def measure_contract_check() -> dict[str, float]:
    command = [
        sys.executable,
        "-c",
        "from dayflow.cli import main; main()",
        "contract",
        "check",
        "--against",
        "HEAD",
        "--spec",
        str(ROOT / "examples/shop/dayflow.yaml"),
    ]
    times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT, timeout=120)
        times.append(time.perf_counter() - start)
    return {
        "contract_check_seconds": round(statistics.median(times), 2),
        "contract_check_seconds_max": round(max(times), 2),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        figures = {**measure_runs(Path(tmp)), **measure_contract_check()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
