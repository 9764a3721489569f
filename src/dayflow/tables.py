"""Schemas and names of the tables dayflow itself owns: the run ledger and the ingest layer.

Plain tuples, so infra (Pulumi) and the local stack share them without importing the BigQuery
client. Infra creates these tables in GCP; `dayflow local up` creates them in the emulator.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

FieldType = Literal["STRING", "INT64", "FLOAT64", "NUMERIC", "BOOL", "DATE", "TIMESTAMP", "JSON"]
Mode = Literal["NULLABLE", "REQUIRED", "REPEATED"]


class Column(NamedTuple):
    name: str
    type: FieldType
    mode: Mode = "NULLABLE"
    description: str = ""


class TableDef(NamedTuple):
    """A table's logical dataset, id, columns and DAY partitioning."""

    dataset: str
    table: str
    columns: tuple[Column, ...]
    partition_field: str
    clustering: tuple[str, ...] = ()
    require_partition_filter: bool = True
    description: str = ""


RUN_STATUSES = ("queued", "running", "succeeded", "failed")

# Append-only: every state change of a run is a new row; a run's state is its newest row.
LEDGER = TableDef(
    dataset="dayflow",
    table="dayflow_runs",
    partition_field="partition_date",
    clustering=("pipeline", "job"),
    require_partition_filter=False,
    description="dayflow run ledger: one row per state change of a run",
    columns=(
        Column("run_id", "STRING", "REQUIRED", "pipeline/job/partition_key/attempt"),
        Column("pipeline", "STRING", "REQUIRED"),
        Column("job", "STRING", "REQUIRED"),
        Column("partition_key", "STRING", "REQUIRED"),
        Column("partition_date", "DATE", "REQUIRED", "local date of the partition"),
        Column("attempt", "INT64", "REQUIRED"),
        Column("backfill_id", "STRING"),
        Column("status", "STRING", "REQUIRED", "queued, running, succeeded or failed"),
        Column("error", "STRING"),
        Column("error_kind", "STRING", description="transient or permanent"),
        Column("rows_written", "INT64"),
        Column("bytes_processed", "INT64"),
        Column("duration_seconds", "FLOAT64"),
        Column("bigquery_job_id", "STRING"),
        Column("details", "JSON", description="per-node results of dbt and Dataform jobs"),
        Column("recorded_at", "TIMESTAMP", "REQUIRED"),
    ),
)
