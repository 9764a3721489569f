"""The run ledger: an append-only BigQuery table with one row per state change of a run.

A run is one job of one pipeline for one partition and one attempt. Its state is its newest row.
Status grids, `only=failed`, `only=missing` and backfill progress all read this table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from dayflow.tables import LEDGER, TableDef
from dayflow.warehouse import TableRef, classify_error

if TYPE_CHECKING:
    from google.cloud import bigquery

RunStatus = Literal["queued", "running", "succeeded", "failed"]


def get_run_id(pipeline: str, job: str, partition_key: str, attempt: int) -> str:
    return f"{pipeline}/{job}/{partition_key}/{attempt}"


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


class RunLedger:
    """Reads and appends the ledger table through a BigQuery client."""

    def __init__(self, client: bigquery.Client, table: TableRef) -> None:
        self.client = client
        self.table = table

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
        sql = f"""
            SELECT partition_key, job, status, attempt, error, rows_written, backfill_id,
                   recorded_at
            FROM {self.table.sql}
            WHERE {where}
            QUALIFY ROW_NUMBER() OVER (
              PARTITION BY partition_key, job
              ORDER BY attempt DESC, recorded_at DESC, {_STATUS_RANK} DESC) = 1
        """
        try:
            rows = self.client.query_and_wait(
                sql, job_config=bigquery.QueryJobConfig(query_parameters=params)
            )
        except Exception as err:
            raise classify_error(err) from err
        return [
            RunState(
                partition_key=row["partition_key"],
                job=row["job"],
                status=row["status"],
                attempt=row["attempt"],
                error=row["error"],
                rows_written=row["rows_written"],
                backfill_id=row["backfill_id"],
                recorded_at=row["recorded_at"],
            )
            for row in rows
        ]

    def get_max_attempt(self, pipeline: str, job: str, partition_key: str, day: date) -> int:
        """The highest attempt recorded for a (pipeline, job, partition), 0 if none."""
        states = self.get_states(pipeline, day, day)
        attempts = [s.attempt for s in states if s.job == job and s.partition_key == partition_key]
        return max(attempts, default=0)


# Within one attempt and timestamp, a final state outranks `running`, which outranks `queued`.
_STATUS_RANK = "CASE status WHEN 'queued' THEN 0 WHEN 'running' THEN 1 ELSE 2 END"


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
    bq_table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field=table.partition_field
    )
    bq_table.require_partition_filter = table.require_partition_filter
    if table.clustering:
        bq_table.clustering_fields = list(table.clustering)
    bq_table.description = table.description
    client.create_table(bq_table, exists_ok=True)


def get_ledger_ref(project: str, dataset_prefix: str) -> TableRef:
    return TableRef(project, f"{dataset_prefix}{LEDGER.dataset}", LEDGER.table)
