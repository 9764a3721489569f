"""Idempotent writes of a SELECT into one partition of a destination table.

- `replace_partition`: one multi-statement transaction: materialize the SELECT once in a temp
  table, ASSERT every row lies in the partition, DELETE the partition, INSERT the rows. Rerunning
  it leaves exactly one run's rows.
- A missing destination table is created (infra's dataEditor grant on the dataset allows it); a
  missing dataset is a permanent error: datasets belong to infra.
- `merge`: MERGE on the declared keys (update matches, insert the rest).

BigQuery job ids are deterministic (`<base>_r<n>`), so a retried request that finds its job
already exists (409) waits for that job instead of running the work again. `jobs.get` can briefly
answer 404 right after that 409 (googleapis/python-bigquery#2134): it is retried for as long as the
client library's own conflict retry does (`_DEFAULT_GET_JOB_CONFLICT_DEADLINE`, 200 s in 3.47).

A transaction aborted by a concurrent one is retried with the next `n`, after a fully jittered
exponential backoff (1 s doubling to 60 s) for as long as the run's deadline allows (its timeout,
which its lease outlives): minutes, not seconds. Writes to one table are also serialized within
this process; across instances BigQuery is the arbiter: it cancels one of two conflicting
transactions (https://cloud.google.com/bigquery/docs/transactions#transaction_concurrency), and
the jittered retries spread the losers out. (A cross-instance lock would need a lock service
the deployment does not have, and a lock holder that dies would block the table until its own
lease ran out.) The local emulator does not reliably isolate concurrent transactions; locally
there is one process, so the in-process lock covers it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dayflow.errors import WarehouseError
from dayflow.spec import Destination, Merge, WriteStrategy
from dayflow.warehouse import TableRef, classify_error, is_concurrent_abort

if TYPE_CHECKING:
    from google.cloud import bigquery

# Backoff between retries of an aborted transaction: uniform in [0, min(cap, base * 2**n)] s.
ABORT_BACKOFF_BASE_SECONDS = 1.0
ABORT_BACKOFF_CAP_SECONDS = 60.0
# Without a run deadline (table creation, direct callers): how long aborts are retried.
DEFAULT_ABORT_BUDGET_SECONDS = 600.0
# jobs.get after a 409 retries 404 this long: google-cloud-bigquery 3.47's own
# _DEFAULT_GET_JOB_CONFLICT_DEADLINE (_DEFAULT_RETRY_DEADLINE / 3 = 600 s / 3).
GET_JOB_AFTER_CONFLICT_SECONDS = 200.0
# The temp table holding a replace script's rows (script-scoped: concurrent scripts never share it).
ROWS_TABLE = "_dayflow_rows"


@dataclass(frozen=True)
class WriteStats:
    rows_written: int
    bytes_processed: int
    bigquery_job_id: str | None
    # Per-node results of dbt and Dataform runs, for the ledger.
    details: list[dict[str, Any]] | None = None


class PartitionWriter:
    """Writes SELECT results into partitions; one instance per process, thread-safe."""

    def __init__(
        self,
        client: bigquery.Client,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self._sleep = sleep
        self._clock = clock
        self._random = rng or random.Random()  # noqa: S311 (backoff jitter, not crypto)
        self._guard = threading.Lock()
        self._table_locks: dict[str, threading.Lock] = {}
        self._columns: dict[str, list[str]] = {}

    def write(
        self,
        dest: TableRef,
        destination: Destination,
        strategy: WriteStrategy,
        select_sql: str,
        params: list[bigquery.ScalarQueryParameter],
        job_id_base: str,
        deadline: float | None = None,
        on_submitted: Callable[[], None] | None = None,
    ) -> WriteStats:
        """Write one partition. `deadline` (on the writer's clock, default: 10 minutes from now)
        bounds the retries of aborted transactions; `on_submitted` is called once the write's
        BigQuery job is submitted (crash tests hang there)."""
        if deadline is None:
            deadline = self._clock() + DEFAULT_ABORT_BUDGET_SECONDS
        with self._lock_for(dest.table_id):
            columns = self._ensure_table(dest, destination, select_sql, params, deadline)
            if isinstance(strategy, Merge):
                sql = _merge_sql(dest, strategy, columns, select_sql)
            else:
                sql = _replace_sql(dest, destination, columns, select_sql)
            job = self._run(sql, params, job_id_base, deadline, on_submitted)
            return WriteStats(
                rows_written=self._rows_written(job),
                bytes_processed=int(job.total_bytes_processed or 0),
                bigquery_job_id=job.job_id,
            )

    def _lock_for(self, table_id: str) -> threading.Lock:
        with self._guard:
            return self._table_locks.setdefault(table_id, threading.Lock())

    def _ensure_table(
        self,
        dest: TableRef,
        destination: Destination,
        select_sql: str,
        params: list[bigquery.ScalarQueryParameter],
        deadline: float,
    ) -> list[str]:
        """Create the destination from the query's shape if it is missing; return its columns."""
        if dest.table_id not in self._columns:
            table = self._retrying(
                lambda _: self._get_or_create(dest, destination, select_sql, params), deadline
            )
            self._columns[dest.table_id] = [f.name for f in table.schema]
        return self._columns[dest.table_id]

    def _get_or_create(
        self,
        dest: TableRef,
        destination: Destination,
        select_sql: str,
        params: list[bigquery.ScalarQueryParameter],
    ) -> Any:
        from google.api_core.exceptions import NotFound

        try:
            try:
                return self.client.get_table(dest.table_id)
            except NotFound:
                self.client.get_dataset(f"{dest.project}.{dest.dataset}")
        except NotFound:
            # Datasets belong to infra: creating one needs project-level
            # bigquery.datasets.create, which the job-runner's account does not hold.
            raise WarehouseError(
                f"dataset {dest.project}.{dest.dataset} does not exist (expected infra to create "
                "it: run `pulumi up` for this environment; locally, `dayflow local up`)",
                transient=False,
            ) from None
        except Exception as err:
            raise classify_error(err) from err
        # The dataset exists: infra's dataEditor grant on it includes bigquery.tables.create.
        self._query(_create_sql(dest, destination, select_sql), params, job_id=None)
        try:
            return self.client.get_table(dest.table_id)
        except Exception as err:
            raise classify_error(err) from err

    def _run(
        self,
        sql: str,
        params: list[bigquery.ScalarQueryParameter],
        job_id_base: str,
        deadline: float,
        on_submitted: Callable[[], None] | None = None,
    ) -> Any:
        return self._retrying(
            lambda n: self._query(sql, params, f"{job_id_base}_r{n}", on_submitted, deadline),
            deadline,
        )

    def _retrying(self, attempt: Callable[[int], Any], deadline: float) -> Any:
        """Call `attempt(n)` for n = 0, 1, ... while a concurrent transaction aborts it, with
        fully jittered exponential backoff, until the next sleep would pass `deadline`."""
        retry = 0
        while True:
            try:
                return attempt(retry)
            except _RunAgain:
                pass  # that job id already failed transiently: run under the next one
            except WarehouseError as err:
                if not is_concurrent_abort(err):
                    raise
                ceiling = min(ABORT_BACKOFF_CAP_SECONDS, ABORT_BACKOFF_BASE_SECONDS * 2**retry)
                delay = self._random.uniform(0, ceiling)
                if self._clock() + delay >= deadline:
                    raise
                self._sleep(delay)
            retry += 1

    def _query(
        self,
        sql: str,
        params: list[bigquery.ScalarQueryParameter],
        job_id: str | None,
        on_submitted: Callable[[], None] | None = None,
        deadline: float | None = None,
    ) -> Any:
        from google.api_core.exceptions import Conflict
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=params)
        if deadline is not None:
            # BigQuery stops a job that outlives this (JobConfiguration.jobTimeoutMs,
            # https://cloud.google.com/bigquery/docs/reference/rest/v2/Job): no write of a run
            # goes on after its deadline, which its lease outlives, so a stale run is dead.
            config.job_timeout_ms = max(1000, int((deadline - self._clock()) * 1000))
        job: Any
        try:
            try:
                job = self.client.query(sql, job_config=config, job_id=job_id, job_retry=None)
            except Conflict:
                if job_id is None:
                    raise
                # The same job id ran before: a retried request. Wait for that job's outcome.
                job = self._get_job_after_conflict(job_id)
                if _failed_transiently(job):
                    raise _RunAgain(job_id) from None
            if on_submitted is not None:
                on_submitted()
            job.result()
        except _RunAgain:
            raise
        except Exception as err:
            raise classify_error(err, job_id) from err
        return job

    def _get_job_after_conflict(self, job_id: str) -> Any:
        """jobs.get of a job that jobs.insert just called a duplicate: a 404 there is the
        job's metadata not having propagated yet (googleapis/python-bigquery#2134), so it is
        retried like the client library's own conflict retry, then reported as transient."""
        from google.api_core.exceptions import NotFound

        deadline = self._clock() + GET_JOB_AFTER_CONFLICT_SECONDS
        delay = 1.0
        while True:
            try:
                return self.client.get_job(job_id)
            except NotFound as err:
                if self._clock() + delay > deadline:
                    raise WarehouseError(
                        f"BigQuery job {job_id} exists (409) but jobs.get still answers 404 "
                        f"after {GET_JOB_AFTER_CONFLICT_SECONDS:g} s; retry the run",
                        transient=True,
                        job_id=job_id,
                    ) from err
                self._sleep(delay)
                delay = min(delay * 2, 10.0)

    def _rows_written(self, job: Any) -> int:
        if job.num_dml_affected_rows is not None:
            return int(job.num_dml_affected_rows)
        children = self.client.list_jobs(parent_job=job.job_id)
        return sum(
            int(child.num_dml_affected_rows or 0)
            for child in children
            if getattr(child, "statement_type", None) in ("INSERT", "MERGE")
        )


class _RunAgain(Exception):
    """A retried request found its job already failed transiently: run it again."""


def _failed_transiently(job: Any) -> bool:
    error = getattr(job, "error_result", None)
    if job.state != "DONE" or not error:
        return False
    return bool(classify_error(RuntimeError(error.get("message", ""))).transient) or error.get(
        "reason"
    ) in ("backendError", "internalError", "rateLimitExceeded", "jobRateLimitExceeded")


def get_partition_predicate(destination: Destination, alias: str = "") -> str:
    """SQL true for the rows of the current partition (uses the bound query parameters)."""
    field = f"{alias}{destination.partition_field}"
    if destination.partition_type == "DATE":
        return f"{field} = @partition_date"
    return f"{field} >= @partition_start AND {field} < @partition_end"


def _create_sql(dest: TableRef, destination: Destination, select_sql: str) -> str:
    field = destination.partition_field
    partition_by = field if destination.partition_type == "DATE" else f"DATE({field})"
    cluster = f" CLUSTER BY {', '.join(destination.clustering)}" if destination.clustering else ""
    rpf = "TRUE" if destination.require_partition_filter else "FALSE"
    return (
        f"CREATE TABLE IF NOT EXISTS {dest.sql} PARTITION BY {partition_by}{cluster} "
        f"OPTIONS (require_partition_filter = {rpf}) "
        f"AS SELECT * FROM (\n{select_sql}\n) WHERE FALSE"
    )


def _replace_sql(
    dest: TableRef, destination: Destination, columns: list[str], select_sql: str
) -> str:
    """The replace-partition script: the SELECT runs once, into a temp table.

    The ASSERT and the INSERT read the temp table, so the sources are scanned (and billed) once,
    inside the transaction's snapshot. BigQuery allows CREATE TEMP TABLE inside a transaction
    (https://cloud.google.com/bigquery/docs/transactions, "Statements supported in
    transactions"); the temp table lives until the script ends
    (https://cloud.google.com/bigquery/docs/multi-statement-queries, "Temporary tables").
    """
    cols = ", ".join(columns)
    predicate = get_partition_predicate(destination)
    return f"""BEGIN TRANSACTION;
CREATE TEMP TABLE {ROWS_TABLE} AS
SELECT * FROM (
{select_sql}
);
ASSERT NOT EXISTS (
  SELECT 1 FROM {ROWS_TABLE} WHERE NOT ({predicate}) OR {destination.partition_field} IS NULL
) AS 'every row must fall in the partition being written ({destination.partition_field})';
DELETE FROM {dest.sql} WHERE {predicate};
INSERT INTO {dest.sql} ({cols})
SELECT {cols} FROM {ROWS_TABLE};
COMMIT TRANSACTION;"""


def _merge_sql(dest: TableRef, strategy: Merge, columns: list[str], select_sql: str) -> str:
    on = " AND ".join(f"T.{k} = S.{k}" for k in strategy.keys)
    updates = ", ".join(f"{c} = S.{c}" for c in columns if c not in strategy.keys)
    return f"""MERGE {dest.sql} AS T
USING (
{select_sql}
) AS S
ON {on}
WHEN MATCHED THEN UPDATE SET {updates}
WHEN NOT MATCHED THEN INSERT ({", ".join(columns)})
  VALUES ({", ".join("S." + c for c in columns)})"""
