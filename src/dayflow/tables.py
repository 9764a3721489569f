"""Schemas and names of the tables dayflow itself owns: the run ledger and the ingest layer.

Plain tuples, so infra (Pulumi) and the local stack share them without importing the BigQuery
client. Infra creates these tables in GCP; `dayflow local up` creates them in the emulator.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

FieldType = Literal[
    "STRING",
    "INT64",
    "FLOAT64",
    "NUMERIC",
    "BIGNUMERIC",
    "BOOL",
    "DATE",
    "DATETIME",
    "TIME",
    "TIMESTAMP",
    "JSON",
    "BYTES",
]
Mode = Literal["NULLABLE", "REQUIRED", "REPEATED"]


class Column(NamedTuple):
    name: str
    type: FieldType
    mode: Mode = "NULLABLE"
    description: str = ""


class TableDef(NamedTuple):
    """A table's logical dataset, id, columns and DAY partitioning (none if `partition_field`
    is empty), and labels of its own besides the stack's."""

    dataset: str
    table: str
    columns: tuple[Column, ...]
    partition_field: str
    clustering: tuple[str, ...] = ()
    require_partition_filter: bool = True
    description: str = ""
    labels: tuple[tuple[str, str], ...] = ()


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
        Column("status", "STRING", "REQUIRED", "queued, running, succeeded, failed or waiting"),
        Column("error", "STRING"),
        Column("error_kind", "STRING", description="transient or permanent"),
        Column("rows_written", "INT64"),
        Column("bytes_processed", "INT64"),
        Column("duration_seconds", "FLOAT64"),
        Column("bigquery_job_id", "STRING"),
        Column(
            "details",
            "JSON",
            description="per-node results of dbt and Dataform jobs; a waiting run's missing "
            "upstream partitions",
        ),
        Column("recorded_at", "TIMESTAMP", "REQUIRED"),
        Column(
            "lease_expires_at",
            "TIMESTAMP",
            description="a running run not finished by then crashed: it shows as stale; "
            "a waiting run's wait deadline",
        ),
        Column(
            "request_key",
            "STRING",
            description="the caller's idempotency key: a retried request attaches to this attempt",
        ),
    ),
)

# The append-only raw log of one topic; BigQuery's insertId is the Pub/Sub message id.
INGEST_COLUMNS = (
    Column("message_id", "STRING", "REQUIRED"),
    Column("publish_time", "TIMESTAMP", "REQUIRED"),
    Column("attributes", "JSON"),
    Column("data", "JSON"),
    Column("ordering_key", "STRING"),
    Column("topic", "STRING", "REQUIRED"),
    Column("schema_version", "INT64"),
    Column("ingested_at", "TIMESTAMP", "REQUIRED"),
)


def get_ingest_table(topic: str, dataset: str = "ingest") -> TableDef:
    """The ingest table of a topic: `<dataset>.events_<topic>`, partitioned by ingestion date."""
    return TableDef(
        dataset=dataset,
        table=f"events_{topic.replace('-', '_')}",
        columns=INGEST_COLUMNS,
        partition_field="ingested_at",
        clustering=("message_id",),
        description=f"append-only events of topic {topic}",
    )


# Every message that could not be ingested, with why; nothing is ever dropped.
DEAD_LETTER = TableDef(
    dataset="ingest",
    table="dead_letter",
    partition_field="received_at",
    clustering=("topic",),
    description="messages that could not be ingested, with the reason",
    columns=(
        Column("message_id", "STRING"),
        Column("topic", "STRING"),
        Column("subscription", "STRING"),
        Column("publish_time", "TIMESTAMP"),
        Column("attributes", "JSON"),
        Column("raw_data", "STRING", description="the message data, base64 as received"),
        Column("reason", "STRING", "REQUIRED", "why it was dead-lettered, e.g. bad_json"),
        Column("detail", "STRING", description="the error, naming the bad value"),
        Column("received_at", "TIMESTAMP", "REQUIRED"),
    ),
)

TOPIC_FIELD_TYPES: dict[str, FieldType] = {
    "string": "STRING",
    "integer": "INT64",
    "number": "FLOAT64",
    "boolean": "BOOL",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "object": "JSON",
    "array": "JSON",
}
