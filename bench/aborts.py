"""Aborted transactions across job-runner instances: today's ~7 s retry budget vs the run's lease.

BigQuery lets one transaction at a time mutate a table; conflicting transactions are cancelled
(https://cloud.google.com/bigquery/docs/transactions#transaction_concurrency). The per-table lock
of `PartitionWriter` covers one process only, and Cloud Run runs several instances.

Simulation: 3 instances (one real `PartitionWriter` each, so each has its own per-table lock),
4 runs at a time per instance, write 20 partitions of one table. The BigQuery client is a fake at
the client boundary: a replace script takes 30 s, and commits unless another transaction on the
table committed since it started (first committer wins); the loser fails with BigQuery's error
"Transaction is aborted due to concurrent update against table ...". Time is scaled (1 simulated
second = 10 real ms) through the writer's injectable clock and sleep.

Figures (one JSON object on stdout), per retry budget (7 s: about today's 8 retries of 0.05 s
doubling to 2 s; 3,600 s: the run's timeout, which its lease outlives):
failed partitions, aborted transactions, simulated minutes until the last partition ended.

Usage: .venv/bin/python bench/aborts.py
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dayflow.errors import WarehouseError
from dayflow.spec import Destination
from dayflow.warehouse import TableRef
from job_runner.domain.writes import PartitionWriter

SCALE = 0.01  # real seconds per simulated second
SCRIPT_SECONDS = 30.0
INSTANCES, RUNS_PER_INSTANCE, PARTITIONS = 3, 4, 20


def now() -> float:
    return time.monotonic() / SCALE


def sleep(seconds: float) -> None:
    time.sleep(seconds * SCALE)


class _Field:
    name = "d"


class _Table:
    schema = [_Field()]


class _Job:
    def __init__(self, bigquery: FakeBigQuery, job_id: str) -> None:
        self.job_id = job_id
        self._bigquery = bigquery
        self._started = now()
        self.num_dml_affected_rows = 1
        self.total_bytes_processed = 0
        self.state = "RUNNING"
        self.error_result = None

    def result(self) -> None:
        from google.api_core.exceptions import BadRequest

        sleep(SCRIPT_SECONDS)
        if not self._bigquery.commit(self._started):
            self.state = "DONE"
            raise BadRequest("Transaction is aborted due to concurrent update against table t")
        self.state = "DONE"


class FakeBigQuery:
    """One table; snapshot isolation, first committer wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_commit = float("-inf")
        self.aborts = 0

    def commit(self, started: float) -> bool:
        with self._lock:
            if self._last_commit > started:
                self.aborts += 1
                return False
            self._last_commit = now()
            return True

    def get_table(self, table_id: str) -> _Table:
        return _Table()

    def query(self, sql: str, **kwargs: Any) -> _Job:
        return _Job(self, kwargs["job_id"])


def simulate(budget_seconds: float) -> dict[str, Any]:
    bigquery = FakeBigQuery()
    writers = [
        PartitionWriter(bigquery, sleep=sleep, clock=now, rng=random.Random(i))  # type: ignore[arg-type]
        for i in range(INSTANCES)
    ]
    dest = TableRef("bench-project", "bench", "t")
    destination = Destination(dataset="d", table="t", partition_field="d")
    failed = 0
    lock = threading.Lock()

    def write(i: int) -> None:
        nonlocal failed
        writer = writers[i % INSTANCES]
        try:
            writer.write(dest, destination, _replace(), "SELECT 1", [], f"job_{i}",
                         deadline=now() + budget_seconds)  # fmt: skip
        except WarehouseError:
            with lock:
                failed += 1

    started = now()
    with ThreadPoolExecutor(INSTANCES * RUNS_PER_INSTANCE) as pool:
        list(pool.map(write, range(PARTITIONS)))
    return {
        "failed_partitions": failed,
        "aborted_transactions": bigquery.aborts,
        "simulated_minutes": round((now() - started) / 60, 1),
    }


def _replace() -> Any:
    from dayflow.spec import ReplacePartition

    return ReplacePartition()


def main() -> None:
    print(
        json.dumps(
            {
                "benchmark": "aborts",
                "partitions": PARTITIONS,
                "instances": INSTANCES,
                "script_seconds": SCRIPT_SECONDS,
                "budget_7s": simulate(7.0),
                "budget_lease_3600s": simulate(3600.0),
            }
        )
    )


if __name__ == "__main__":
    main()
