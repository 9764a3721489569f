"""The semantic layer: a topic's validated, deduplicated table, built one partition at a time
from its ingest table by a `dedup` job.

Which events belong to partition P: those whose event time (the topic's `event_time` field) lies
in P's half-open UTC bounds `[@partition_start, @partition_end)` (for a `date` event time, those
dated `@partition_date`), and that were ingested before P's end plus the job's
`allowed_lateness_days` (default 7; `null`: no bound).

Late events, the rule: an event that arrives within the allowance lands in P the next time P is
built (a scheduled run, its `catch_up` window, or a backfill); events that arrive after P was
built reach it only when P is rebuilt. An event ingested after `@partition_end + allowance` never
reaches P: it stays in the ingest table (where a query can count it), but no rebuild reads it.
So once `@partition_end + allowance` has passed, P is final: every rebuild, whenever it runs,
produces the same rows. To load a replay of old events (history published today), set
`allowed_lateness_days: null`, or large enough, and rebuild.

Reading the ingest table, partitioned by ingestion time: the query filters
`@partition_start - INGEST_LOOKBACK <= ingested_at < @partition_end + allowance`. The ingest
function dead-letters events whose event time is more than `MAX_EVENT_TIME_AHEAD` (1 day) after
their ingestion, so every valid event of P was ingested after P's start minus 1 day; the second
day of the 2-day lookback covers a `date` event time in any timezone. The cost: building a daily
partition scans at most 2 + 1 + allowance days of ingest partitions (10 with the default),
whenever it runs; with no bound, it scans from P's start - 2 days until now, so a backfill of N
old partitions costs O(N^2) (bench/dedup_cost.py).

The SELECT, per partition:
1. each message once: redeliveries can be stored twice, since BigQuery's insertId
   deduplication is best effort (the earliest ingested copy is kept);
2. typed columns from the JSON payload (`CAST(JSON_VALUE(...))`; a value that does not cast fails
   the job loudly instead of turning into NULL);
3. latest state (default): per business key, the event of P with the greatest event time, then
   publish time, then message id (a deterministic tie-break);
   history (`history: true`, SCD type 2): every version of P, with `valid_from` = its event time,
   `valid_to` = the event time of the key's next version among the events read (also those of
   later partitions, ingested before P's end + allowance), and `is_current` = no next version.
   A partition's `valid_to` and `is_current` are as of its build, and at most as of its end +
   allowance: a version superseded later keeps `is_current` in P (read `is_current` from the
   newest partition, or derive validity across partitions from `valid_from`).

The job-runner writes the result into the destination partition with its replace-partition
transaction, so a rebuild replaces the partition: idempotent.
"""

from __future__ import annotations

from datetime import timedelta

from dayflow.errors import SpecError
from dayflow.ingest_config import MAX_EVENT_TIME_AHEAD
from dayflow.spec import DedupJob, Topic
from dayflow.spec_types import EVENT_TIME_TYPES, KEY_TYPES
from dayflow.tables import TOPIC_FIELD_TYPES, Column, TableDef, get_ingest_table
from dayflow.warehouse import TableRef, validate_identifier

INGEST_LOOKBACK = MAX_EVENT_TIME_AHEAD + timedelta(days=1)
# Columns the semantic table adds to the topic's fields.
MESSAGE_COLUMNS = (
    Column("message_id", "STRING", "REQUIRED", "Pub/Sub message id of this state"),
    Column("publish_time", "TIMESTAMP", "REQUIRED", "when Pub/Sub accepted the message"),
)
HISTORY_COLUMNS = (
    Column("valid_from", "TIMESTAMP", "REQUIRED", "event time of this version"),
    Column("valid_to", "TIMESTAMP", description="event time of the next version; NULL if none"),
    Column("is_current", "BOOL", "REQUIRED", "no later version was known at build time"),
)
_RESERVED = {c.name for c in (*MESSAGE_COLUMNS, *HISTORY_COLUMNS)}
_EXTRACT = {
    "string": "JSON_VALUE(data, '$.{name}')",
    "integer": "CAST(JSON_VALUE(data, '$.{name}') AS INT64)",
    "number": "CAST(JSON_VALUE(data, '$.{name}') AS FLOAT64)",
    "boolean": "CAST(JSON_VALUE(data, '$.{name}') AS BOOL)",
    "timestamp": "CAST(JSON_VALUE(data, '$.{name}') AS TIMESTAMP)",
    "date": "CAST(JSON_VALUE(data, '$.{name}') AS DATE)",
    "object": "JSON_QUERY(data, '$.{name}')",
    "array": "JSON_QUERY(data, '$.{name}')",
}


def get_semantic_table(topic_name: str, topic: Topic, job: DedupJob) -> TableDef:
    """The semantic table of `job` (logical dataset), so that infra and the local stack create it.

    Columns: the partition column when it is not a topic field, then the topic's fields, then
    `message_id`, `publish_time`, and for history `valid_from`, `valid_to`, `is_current`.

    Raises:
        SpecError: the job and topic cannot make a semantic table (names the field and why).
    """
    added = _check(topic_name, topic, job)
    dest = job.destination
    always_set = {*topic.key, topic.event_time}
    columns = [
        Column(
            name,
            TOPIC_FIELD_TYPES[field.type],
            "REQUIRED" if name in always_set else "NULLABLE",
        )
        for name, field in topic.fields.items()
    ]
    if added:
        columns.insert(0, Column(dest.partition_field, dest.partition_type, "REQUIRED"))
    columns += MESSAGE_COLUMNS
    if job.history:
        columns += HISTORY_COLUMNS
    kind = "every version (SCD type 2)" if job.history else "the latest state"
    return TableDef(
        dataset=dest.dataset,
        table=dest.table,
        columns=tuple(columns),
        partition_field=dest.partition_field,
        clustering=tuple(dest.clustering) or tuple(topic.key[:4]),
        require_partition_filter=dest.require_partition_filter,
        description=(
            f"semantic table of topic {topic_name}: {kind} per {', '.join(topic.key)}, "
            f"deduplicated on message_id, partitioned by {topic.event_time}"
        ),
    )


def build_dedup_sql(topic_name: str, topic: Topic, job: DedupJob, ingest_dataset_id: str) -> str:
    """The SELECT of one partition of `job`'s semantic table (see the module docstring).

    It reads the query parameters the job-runner binds: `@partition_start`, `@partition_end`
    (TIMESTAMP), and `@partition_date` (DATE) when the destination's partition column is a DATE
    that is not a topic field, or the event time is a `date`.

    Args:
        topic_name: The topic id, e.g. `orders`.
        topic: The topic's spec.
        job: The dedup job (its destination decides the partition column).
        ingest_dataset_id: The physical ingest dataset, `project.dataset` (or `dataset` alone,
            resolved in the query job's project).

    Raises:
        SpecError: the job and topic cannot make a semantic table.
        UserError: `ingest_dataset_id` is not a valid dataset id.
    """
    added = _check(topic_name, topic, job)
    source = _ingest_table_sql(topic_name, ingest_dataset_id)
    event_time = topic.event_time
    keys = ", ".join(topic.key)
    fields = [
        f"{_EXTRACT[field.type].format(name=name)} AS {name}"
        for name, field in topic.fields.items()
    ]
    if topic.fields[event_time].type == "date":
        in_partition = f"{event_time} = @partition_date"
        from_partition_start = f"{event_time} >= @partition_date"
        before_partition_end = f"{event_time} <= @partition_date"
    else:
        in_partition = f"{event_time} >= @partition_start AND {event_time} < @partition_end"
        from_partition_start = f"{event_time} >= @partition_start"
        before_partition_end = f"{event_time} < @partition_end"
    partition_value = (
        "@partition_date" if job.destination.partition_type == "DATE" else ("@partition_start")
    )
    outputs = [f"{partition_value} AS {job.destination.partition_field}"] if added else []
    outputs += [*topic.fields, "message_id", "publish_time"]
    order = f"{event_time}, publish_time, message_id"
    lookback = int(INGEST_LOOKBACK.total_seconds())
    ingested_before = ""
    if job.allowed_lateness_days is not None:
        lateness = int(timedelta(days=job.allowed_lateness_days).total_seconds())
        ingested_before = (
            f"\n    AND ingested_at < TIMESTAMP_ADD(@partition_end, INTERVAL {lateness} SECOND)"
        )
    head = f"""-- Semantic table of topic `{topic_name}` for one partition (dayflow dedup job).
WITH messages AS (
  -- Each message once; the lookback and the lateness allowance bound the ingest partitions
  -- read (dayflow.semantic).
  SELECT message_id, publish_time, data
  FROM {source}
  WHERE ingested_at >= TIMESTAMP_SUB(@partition_start, INTERVAL {lookback} SECOND){ingested_before}
  QUALIFY ROW_NUMBER() OVER (PARTITION BY message_id ORDER BY ingested_at, publish_time) = 1
),
events AS (
  SELECT
    {_join(fields, 4)},
    message_id,
    publish_time
  FROM messages
)"""
    if not job.history:
        return f"""{head}
SELECT
  {_join(outputs, 2)}
FROM events
WHERE {in_partition}
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY {keys}
  ORDER BY {event_time} DESC, publish_time DESC, message_id DESC
) = 1
"""
    return f"""{head},
versions AS (
  -- This partition's versions and every later one: the next version closes a version.
  SELECT
    *,
    LEAD({event_time}) OVER (PARTITION BY {keys} ORDER BY {order}) AS next_version_at
  FROM events
  WHERE {from_partition_start}
)
SELECT
  {_join(outputs, 2)},
  {_as_timestamp(event_time, topic)} AS valid_from,
  {_as_timestamp("next_version_at", topic)} AS valid_to,
  next_version_at IS NULL AS is_current
FROM versions
WHERE {before_partition_end}
"""


def _check(topic_name: str, topic: Topic, job: DedupJob) -> bool:
    """Raise SpecError if `job` cannot build `topic`'s table; return whether the partition
    column is added (True) or is the topic's event time field (False)."""
    where = f"dedup job of topic {topic_name!r}"
    if job.topic != topic_name:
        raise SpecError(f"{where}: the job reads topic {job.topic!r}, not {topic_name!r}")
    for name in topic.fields:
        if name in _RESERVED:
            raise SpecError(
                f"topics.{topic_name}.fields.{name}: the semantic table adds a column {name!r} "
                "(expected another field name)"
            )
    for name in topic.key:
        if topic.fields[name].type not in KEY_TYPES:
            raise SpecError(
                f"topics.{topic_name}.key: field {name!r} is a {topic.fields[name].type} "
                f"(expected one of: {', '.join(KEY_TYPES)})"
            )
    event_type = topic.fields[topic.event_time].type
    if event_type not in EVENT_TIME_TYPES:
        raise SpecError(
            f"topics.{topic_name}.event_time: field {topic.event_time!r} is a {event_type} "
            "(expected a timestamp or date field)"
        )
    dest = job.destination
    if event_type == "date" and dest.partition_type != "DATE":
        raise SpecError(
            f"{where}: destination.partition_type: a date event time places events in daily "
            "partitions only (expected DATE)"
        )
    field = dest.partition_field
    if field in _RESERVED:
        raise SpecError(
            f"{where}: destination.partition_field {field!r} is a column the semantic table "
            "computes (expected the event time field or a new column name)"
        )
    if field not in topic.fields:
        return True
    if field != topic.event_time or TOPIC_FIELD_TYPES[event_type] != dest.partition_type:
        raise SpecError(
            f"{where}: destination.partition_field {field!r} is a topic field other than the "
            f"{dest.partition_type} event time (expected {topic.event_time!r} with a matching "
            "partition_type, or a new column name that dayflow fills with the partition)"
        )
    return False


def _ingest_table_sql(topic_name: str, ingest_dataset_id: str) -> str:
    project, _, dataset = ingest_dataset_id.rpartition(".")
    table = get_ingest_table(topic_name, dataset).table
    if project:
        return TableRef(project, dataset, table).sql
    return f"`{validate_identifier(dataset, 'dataset')}.{table}`"


def _as_timestamp(column: str, topic: Topic) -> str:
    # valid_from/valid_to are TIMESTAMPs; a date event time starts at midnight UTC.
    return f"TIMESTAMP({column})" if topic.fields[topic.event_time].type == "date" else column


def _join(items: list[str], indent: int) -> str:
    return (",\n" + " " * indent).join(items)
