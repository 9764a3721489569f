"""The run ledger: an append-only BigQuery table with one row per state change of a run.

A run is one job of one pipeline for one partition and one attempt. Its state is its newest row.
Status grids, `only=failed`, `only=missing` and backfill progress all read this table.

A `running` row carries a lease (`lease_expires_at`, from the job's timeout): a process that dies
mid-run (OOM, a recycled instance, kill -9) never writes the final row, so once the lease has
expired the run reads as `stale`, which plans treat as failed. `stale` is derived, never written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from dayflow.tables import LEDGER, TableDef
from dayflow.warehouse import TableRef, classify_error

if TYPE_CHECKING:
    from google.cloud import bigquery

_log = logging.getLogger("dayflow.runs")

# `waiting`: not started, upstream partitions of other pipelines have not all succeeded
# (job_runner.domain.upstream); not a failure.
RunStatus = Literal["queued", "running", "succeeded", "failed", "stale", "waiting"]
RUN_STATUSES: tuple[RunStatus, ...] = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "stale",
    "waiting",
)
# The statuses a plan's only=failed re-runs: failed, and running past its lease (crashed).
FAILED_STATUSES = frozenset({"failed", "stale"})


def get_run_id(pipeline: str, job: str, partition_key: str, attempt: int) -> str:
    return f"{pipeline}/{job}/{partition_key}/{attempt}"


def log_state_change(record: RunRecord) -> None:
    """One log line per state change of a run, with its labels (dayflow.logs).

    A permanent failure is an ERROR (what the failed-run alert counts), a transient one a
    WARNING (a retry follows). The error text stays in the ledger: it may quote row values.
    """
    failed = record.status == "failed"
    level = logging.INFO
    if failed:
        level = logging.ERROR if record.error_kind == "permanent" else logging.WARNING
    kind = f" ({record.error_kind})" if failed and record.error_kind else ""
    fields = {
        "pipeline": record.pipeline,
        "job": record.job,
        "partition_key": record.partition_key,
        "attempt": record.attempt,
        "backfill_id": record.backfill_id,
        "bigquery_job_id": record.bigquery_job_id,
        "execution": record.request_key,
        "status": record.status,
        "error_kind": record.error_kind,
        "rows_written": record.rows_written,
        "duration_seconds": record.duration_seconds,
    }
    extra = {key: value for key, value in fields.items() if value is not None}
    _log.log(level, "run %s %s%s", record.run_id, record.status, kind, extra=extra)


@dataclass(frozen=True)
class RunRecord:
    """One state change of a run, as a ledger row."""

    pipeline: str
    job: str
    partition_key: str
    partition_date: date
    attempt: int
    status: RunStatus
    backfill_id: str | None = None
    error: str | None = None
    error_kind: Literal["transient", "permanent"] | None = None
    rows_written: int | None = None
    bytes_processed: int | None = None
    duration_seconds: float | None = None
    bigquery_job_id: str | None = None
    details: list[dict[str, Any]] | None = None
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Running rows only: when the run is presumed dead if it has not finished.
    lease_expires_at: datetime | None = None
    # The caller's idempotency key (a Workflows execution id): a retry with it attaches.
    request_key: str | None = None

    @property
    def run_id(self) -> str:
        return get_run_id(self.pipeline, self.job, self.partition_key, self.attempt)

    def to_row(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "job": self.job,
            "partition_key": self.partition_key,
            "partition_date": self.partition_date.isoformat(),
            "attempt": self.attempt,
            "backfill_id": self.backfill_id,
            "status": self.status,
            "error": self.error,
            "error_kind": self.error_kind,
            "rows_written": self.rows_written,
            "bytes_processed": self.bytes_processed,
            "duration_seconds": self.duration_seconds,
            "bigquery_job_id": self.bigquery_job_id,
            "details": json.dumps(self.details) if self.details is not None else None,
            "recorded_at": self.recorded_at.isoformat(),
            "lease_expires_at": self.lease_expires_at.isoformat()
            if self.lease_expires_at
            else None,
            "request_key": self.request_key,
        }


@dataclass(frozen=True)
class RunState:
    """The newest state of a (partition, job): what status grids and plans read."""

    partition_key: str
    job: str
    status: RunStatus
    attempt: int
    error: str | None
    rows_written: int | None
    backfill_id: str | None
    recorded_at: datetime
    lease_expires_at: datetime | None = None
    error_kind: str | None = None
    bigquery_job_id: str | None = None
    bytes_processed: int | None = None
    duration_seconds: float | None = None
    request_key: str | None = None


class RunLedger:
    """Reads and appends the ledger table through a BigQuery client.

    `now` is the wall clock that leases are compared with (tests move it forward).
    """

    def __init__(
        self,
        client: bigquery.Client,
        table: TableRef,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.table = table
        self.now = now

    def record(self, *records: RunRecord) -> None:
        """Append rows. Each row's insertId is its run id, status and time, so a retried insert
        of the same record does not duplicate it."""
        rows = [r.to_row() for r in records]
        row_ids = [f"{r['run_id']}/{r['status']}/{r['recorded_at']}" for r in rows]
        try:
            errors = self.client.insert_rows_json(self.table.table_id, rows, row_ids=row_ids)
        except Exception as err:
            raise classify_error(err) from err
        if errors:
            raise classify_error(RuntimeError(f"ledger insert failed: {errors}"))
        for record in records:
            log_state_change(record)

    def get_states(
        self,
        pipeline: str | None,
        first: date | None = None,
        last: date | None = None,
        backfill_id: str | None = None,
    ) -> list[RunState]:
        """The newest state of every (partition, job) of `pipeline` with partition dates in
        [first, last], or of every run of one backfill."""
        from google.cloud import bigquery

        where = "TRUE"
        params = []
        if pipeline is not None:
            where += " AND pipeline = @pipeline"
            params.append(bigquery.ScalarQueryParameter("pipeline", "STRING", pipeline))
        if first is not None and last is not None:
            where += " AND partition_date BETWEEN @first AND @last"
            params.append(bigquery.ScalarQueryParameter("first", "DATE", first))
            params.append(bigquery.ScalarQueryParameter("last", "DATE", last))
        if backfill_id is not None:
            where += " AND backfill_id = @backfill_id"
            params.append(bigquery.ScalarQueryParameter("backfill_id", "STRING", backfill_id))
        return self._query_states(where, params, "partition_key, job")

    def get_attempts(
        self, pipeline: str, job: str, partition_key: str, day: date
    ) -> list[RunState]:
        """The newest state of every attempt of one (pipeline, job, partition), newest first."""
        from google.cloud import bigquery

        params = [
            bigquery.ScalarQueryParameter("pipeline", "STRING", pipeline),
            bigquery.ScalarQueryParameter("job", "STRING", job),
            bigquery.ScalarQueryParameter("partition_key", "STRING", partition_key),
            bigquery.ScalarQueryParameter("day", "DATE", day),
        ]
        where = (
            "pipeline = @pipeline AND job = @job AND partition_key = @partition_key"
            " AND partition_date = @day"
        )
        states = self._query_states(where, params, "attempt")
        return sorted(states, key=lambda s: s.attempt, reverse=True)

    def get_max_attempt(self, pipeline: str, job: str, partition_key: str, day: date) -> int:
        """The highest attempt recorded for a (pipeline, job, partition), 0 if none."""
        attempts = self.get_attempts(pipeline, job, partition_key, day)
        return attempts[0].attempt if attempts else 0

    def _query_states(self, where: str, params: list[Any], newest_per: str) -> list[RunState]:
        from google.cloud import bigquery

        sql = f"""
            SELECT partition_key, job, status, attempt, error, rows_written, backfill_id,
                   recorded_at, lease_expires_at, error_kind, bigquery_job_id,
                   bytes_processed, duration_seconds, request_key
            FROM {self.table.sql}
            WHERE {where}
            QUALIFY ROW_NUMBER() OVER (
              PARTITION BY {newest_per}
              ORDER BY attempt DESC, recorded_at DESC, {_STATUS_RANK} DESC) = 1
        """
        try:
            rows = self.client.query_and_wait(
                sql, job_config=bigquery.QueryJobConfig(query_parameters=params)
            )
        except Exception as err:
            raise classify_error(err) from err
        now = self.now()
        return [
            RunState(
                partition_key=row["partition_key"],
                job=row["job"],
                status=get_status(row["status"], row["lease_expires_at"], now),
                attempt=row["attempt"],
                error=row["error"],
                rows_written=row["rows_written"],
                backfill_id=row["backfill_id"],
                recorded_at=row["recorded_at"],
                lease_expires_at=row["lease_expires_at"],
                error_kind=row["error_kind"],
                bigquery_job_id=row["bigquery_job_id"],
                bytes_processed=row["bytes_processed"],
                duration_seconds=row["duration_seconds"],
                request_key=row["request_key"],
            )
            for row in rows
        ]


def get_status(status: RunStatus, lease_expires_at: datetime | None, now: datetime) -> RunStatus:
    """`stale` for a running (or queued) run whose lease expired before `now`, else `status`."""
    if status in ("running", "queued") and lease_expires_at is not None and lease_expires_at < now:
        return "stale"
    return status


# Within one attempt and timestamp, a final state outranks `running`, which outranks `queued`.
_STATUS_RANK = (
    "CASE status WHEN 'queued' THEN 0 WHEN 'waiting' THEN 0 WHEN 'running' THEN 1 ELSE 2 END"
)


def ensure_table(client: bigquery.Client, project: str, dataset_id: str, table: TableDef) -> None:
    """Create a dayflow-owned table (and its dataset) if missing: local stack and tests."""
    from google.cloud import bigquery

    client.create_dataset(f"{project}.{dataset_id}", exists_ok=True)
    bq_table = bigquery.Table(
        f"{project}.{dataset_id}.{table.table}",
        schema=[
            bigquery.SchemaField(c.name, c.type, mode=c.mode, description=c.description)
            for c in table.columns
        ],
    )
    if table.partition_field:
        bq_table.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=table.partition_field
        )
        bq_table.require_partition_filter = table.require_partition_filter
    bq_table.labels = dict(table.labels)
    if table.clustering:
        bq_table.clustering_fields = list(table.clustering)
    bq_table.description = table.description
    client.create_table(bq_table, exists_ok=True)


def get_ledger_ref(project: str, dataset_prefix: str) -> TableRef:
    return TableRef(project, f"{dataset_prefix}{LEDGER.dataset}", LEDGER.table)
