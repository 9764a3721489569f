"""Benchmark of the dbt and Dataform job kinds on the local stack: seconds per partition (JSON).

Starts its own BigQuery emulator, fills a semantic layer with ORDERS_PER_DAY orders on each of
DAYS days, then builds the daily sales mart one partition at a time with each tool, the way the
job-runner does (`run_dbt`, `run_dataform`). The first partition creates the mart table; the
others take the incremental path. Figures include process start-up: dbt's import and parse,
Dataform's compile (twice: once to check the project, once inside `dataform run`) and Node.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from dayflow.local.process import get_free_port, stop_process
from dayflow.local.stack import start_bigquery
from dayflow.partitions import PartitionScheme
from dayflow.spec import DataformJob, DbtJob
from dayflow.transforms.dataform import run_dataform
from dayflow.transforms.dbt import run_dbt
from dayflow.transforms.partition_vars import PartitionVars
from dayflow.warehouse import make_bigquery_client

ROOT = Path(__file__).resolve().parents[1]
# The tests' project (tests/project): its dbt and Dataform projects build the example's mart, and
# its Dataform project is the one whose pinned CLI `make venv` installs.
PROJECT = ROOT / "tests" / "project"
DAYS = 4
ORDERS_PER_DAY = 500
CUSTOMERS = 200
FIRST_DAY = date(2024, 1, 1)
SCHEME = PartitionScheme("day", "Europe/Stockholm")


def seed(endpoint: str) -> None:
    client = make_bigquery_client("local", endpoint)
    client.create_dataset("local.semantic")
    client.query_and_wait(
        """
        CREATE TABLE semantic.orders (
          order_id STRING, customer_id STRING, status STRING, amount FLOAT64, currency STRING,
          updated_at TIMESTAMP, event_date DATE, message_id STRING, publish_time TIMESTAMP
        ) PARTITION BY event_date OPTIONS (require_partition_filter = TRUE);
        CREATE TABLE semantic.customers (
          customer_id STRING, name STRING, country STRING, segment STRING,
          updated_at TIMESTAMP, event_date DATE, message_id STRING, publish_time TIMESTAMP
        ) PARTITION BY event_date OPTIONS (require_partition_filter = TRUE);
        """
    )
    client.query_and_wait(
        f"""
        INSERT INTO semantic.customers
        SELECT FORMAT('c%04d', n), FORMAT('Customer %d', n),
          ['SE', 'DK', 'NO', 'FI'][OFFSET(MOD(n, 4))], ['consumer', 'business'][OFFSET(MOD(n, 2))],
          TIMESTAMP '2023-12-01 00:00:00+00', DATE '2023-12-01', FORMAT('n%d', n),
          TIMESTAMP '2023-12-01 00:00:01+00'
        FROM UNNEST(GENERATE_ARRAY(1, {CUSTOMERS})) AS n
        """
    )
    for day in range(DAYS):
        d = FIRST_DAY + timedelta(days=day)
        client.query_and_wait(
            f"""
            INSERT INTO semantic.orders
            SELECT FORMAT('o{day}-%05d', n), FORMAT('c%04d', MOD(n * 7, {CUSTOMERS}) + 1),
              ['placed', 'paid', 'shipped', 'cancelled'][OFFSET(MOD(n, 4))],
              ROUND(MOD(n * 37, 10000) / 100, 2), ['SEK', 'EUR'][OFFSET(MOD(n, 2))],
              TIMESTAMP '{d} 12:00:00+00', DATE '{d}', FORMAT('m{day}-%d', n),
              TIMESTAMP '{d} 12:00:01+00'
            FROM UNNEST(GENERATE_ARRAY(1, {ORDERS_PER_DAY})) AS n
            """
        )
    client.close()  # type: ignore[no-untyped-call]


def measure(tool: str, endpoint: str) -> list[float]:
    seconds = []
    for day in range(DAYS):
        key = (FIRST_DAY + timedelta(days=day)).isoformat()
        common = {
            "spec_root": PROJECT,
            "partition": PartitionVars.for_partition(SCHEME, key),
            "project": "local",
            "dataset_prefix": "",
            "bigquery_endpoint": endpoint,
            "timeout": 300,
        }
        started = time.perf_counter()
        if tool == "dbt":
            result = run_dbt(DbtJob(kind="dbt", project_dir="dbt"), **common)  # type: ignore[arg-type]
        else:
            job = DataformJob(kind="dataform", project_dir="dataform", tags=["daily_sales"])
            result = run_dataform(job, **common)  # type: ignore[arg-type]
        seconds.append(time.perf_counter() - started)
        if not result.success:
            raise SystemExit(f"{tool} failed for {key}: {result.error}")
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dayflow-bench-") as tmp:
        state = Path(tmp)
        port = get_free_port()
        bigquery_url = start_bigquery(state, port)
        try:
            seed(bigquery_url)
            # dbt logs to stdout; this benchmark's stdout is its JSON alone.
            with contextlib.redirect_stdout(sys.stderr):
                dbt_seconds = measure("dbt", bigquery_url)
                dataform_seconds = measure("dataform", bigquery_url)
        finally:
            stop_process("bigquery", state)
    print(
        json.dumps(
            {
                "dbt_seconds_per_partition": round(statistics.mean(dbt_seconds), 2),
                "dataform_seconds_per_partition": round(statistics.mean(dataform_seconds), 2),
                "dbt_seconds_incremental_median": round(statistics.median(dbt_seconds[1:]), 2),
                "dataform_seconds_incremental_median": round(
                    statistics.median(dataform_seconds[1:]), 2
                ),
                "partitions": DAYS,
                "orders_per_partition": ORDERS_PER_DAY,
            }
        )
    )


if __name__ == "__main__":
    main()
