"""The semantic layer's SELECT (`build_dedup_sql`) run on the BigQuery emulator with the
parameters the job-runner binds, over ingest rows written by the real function."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from dayflow.errors import SpecError
from dayflow.ledger import ensure_table
from dayflow.partitions import PartitionScheme
from dayflow.semantic import INGEST_LOOKBACK, build_dedup_sql, get_semantic_table
from dayflow.spec import DedupJob, Destination, Topic, TopicField
from tests.ingest.ingest_helpers import (
    Tables,
    binary_event,
    get_dedup_job,
    order,
    pubsub_message,
)

pytestmark = pytest.mark.emulator
SCHEME = PartitionScheme("day", "Europe/Stockholm")


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def publish(
    client: Any,
    topic: str,
    event: dict[str, Any],
    message_id: str,
    publish_time: str = "2024-01-15T10:00:01Z",
) -> None:
    message = pubsub_message(event, message_id)
    message["publishTime"] = publish_time
    headers, body = binary_event(topic, message)
    assert client.post("/", headers=headers, data=body).status_code == 200


def partition_params(key: str) -> list[Any]:
    """What the job-runner binds for a partition (job_runner.domain.runner.Partition)."""
    from google.cloud.bigquery import ScalarQueryParameter

    start, end = SCHEME.get_partition_bounds(key)
    return [
        ScalarQueryParameter("partition_key", "STRING", key),
        ScalarQueryParameter("partition_date", "DATE", SCHEME.get_partition_date(key)),
        ScalarQueryParameter("partition_start", "TIMESTAMP", start),
        ScalarQueryParameter("partition_end", "TIMESTAMP", end),
    ]


def dedup_sql(tables: Tables, job_name: str) -> str:
    job = get_dedup_job(tables.spec, job_name)
    topic = tables.spec.topics[job.topic]
    return build_dedup_sql(job.topic, topic, job, f"local.{tables.prefix}ingest")


def run_dedup(tables: Tables, job_name: str, key: str) -> list[dict[str, Any]]:
    return tables.query(dedup_sql(tables, job_name), partition_params(key))


def test_latest_state_per_key_is_the_latest_event_time_then_publish_time(
    function_client: Any, tables: Tables
) -> None:
    post = lambda event, mid, at="2024-01-15T10:00:01Z": publish(  # noqa: E731
        function_client, "orders", event, mid, at
    )
    # o1 is updated twice; the update with the latest event time arrives first.
    post(order(1, status="paid", updated_at="2024-01-15T11:00:00Z"), "m1c")
    post(order(1, status="placed", updated_at="2024-01-15T10:00:00Z"), "m1a")
    post(order(1, status="cancelled", updated_at="2024-01-15T10:30:00Z"), "m1b")
    # o2: two events at the same event time: the later published one wins.
    post(order(2, status="shipped"), "m2b", "2024-01-15T12:00:00Z")
    post(order(2, status="paid"), "m2a", "2024-01-15T11:00:00Z")
    # Partition bounds are local (Europe/Stockholm, UTC+1 in January).
    post(order(3, updated_at="2024-01-14T23:30:00Z"), "m3")  # 00:30 on the 15th: in
    post(order(4, updated_at="2024-01-15T23:30:00Z"), "m4")  # 00:30 on the 16th: out
    post(order(5, updated_at="2024-01-14T22:59:59Z"), "m5")  # 23:59:59 on the 14th: out

    rows = run_dedup(tables, "orders_latest", "2024-01-15")

    assert [(r["order_id"], r["status"], r["message_id"]) for r in sorted(rows, key=str)] == [
        ("o00001", "paid", "m1c"),
        ("o00002", "shipped", "m2b"),
        ("o00003", "placed", "m3"),
    ]
    first = next(r for r in rows if r["order_id"] == "o00001")
    assert first == {
        "partition_date": date(2024, 1, 15),
        **order(1, status="paid", updated_at=t("2024-01-15T11:00:00Z")),
        "message_id": "m1c",
        "publish_time": t("2024-01-15T10:00:01Z"),
    }
    assert [r["order_id"] for r in run_dedup(tables, "orders_latest", "2024-01-16")] == ["o00004"]


def test_message_stored_twice_is_counted_once(function_client: Any, tables: Tables) -> None:
    publish(function_client, "orders", order(1), "m1")
    publish(
        function_client, "orders", order(1, status="paid", updated_at="2024-01-15T12:00:00Z"), "m2"
    )
    # BigQuery's insertId dedup is best effort: store m1 twice more, as a late redelivery can.
    [stored] = [row for row in tables.ingested() if row["message_id"] == "m1"]
    copies = [
        {**stored, "data": stored["data"], "ingested_at": datetime.now(UTC)} for _ in range(2)
    ]
    errors = tables.client.insert_rows(
        tables.client.get_table(tables.ingest_table("orders").strip("`")), copies
    )
    assert errors == []
    assert [r["message_id"] for r in tables.ingested()] == ["m1", "m1", "m1", "m2"]

    history = run_dedup(tables, "orders_history", "2024-01-15")
    latest = run_dedup(tables, "orders_latest", "2024-01-15")

    assert sorted(r["message_id"] for r in history) == ["m1", "m2"]
    assert [r["message_id"] for r in latest] == ["m2"]


def test_history_closes_each_version_with_the_next_even_in_a_later_partition(
    function_client: Any, tables: Tables
) -> None:
    publish(function_client, "orders", order(1, updated_at="2024-01-15T09:00:00Z"), "v1")
    publish(
        function_client, "orders", order(1, status="paid", updated_at="2024-01-15T15:00:00Z"), "v2"
    )
    publish(
        function_client,
        "orders",
        order(1, status="shipped", updated_at="2024-01-17T08:00:00Z"),
        "v3",
    )
    publish(function_client, "orders", order(2, updated_at="2024-01-15T10:00:00Z"), "w1")

    day = {r["message_id"]: r for r in run_dedup(tables, "orders_history", "2024-01-15")}
    later = run_dedup(tables, "orders_history", "2024-01-17")

    validity = {
        mid: (r["valid_from"], r["valid_to"], r["is_current"]) for mid, r in sorted(day.items())
    }
    assert validity == {
        "v1": (t("2024-01-15T09:00:00Z"), t("2024-01-15T15:00:00Z"), False),
        "v2": (t("2024-01-15T15:00:00Z"), t("2024-01-17T08:00:00Z"), False),
        "w1": (t("2024-01-15T10:00:00Z"), None, True),
    }
    assert [(r["message_id"], r["is_current"]) for r in later] == [("v3", True)]
    assert day["v2"]["status"] == "paid" and day["v2"]["partition_date"] == date(2024, 1, 15)


def test_every_field_type_is_extracted_from_the_json_payload(
    function_client: Any, tables: Tables
) -> None:
    thing = {
        "thing_id": 9007199254740993,  # above 2**53: must not go through a float
        "seen_on": "2024-01-15",
        "label": 'héllo "quoted"',
        "weight": 2159.56,
        "active": False,
        "at": "2024-01-15T10:00:00.123456+01:00",
        "tags": ["a", 1],
        "meta": {"nested": {"x": None}},
    }
    publish(function_client, "things", thing, "t1")
    publish(function_client, "things", {"thing_id": 2, "seen_on": "2024-01-15"}, "t2")
    publish(function_client, "things", {"thing_id": 3, "seen_on": "2024-01-16"}, "t3")

    rows = {r["thing_id"]: r for r in run_dedup(tables, "things_latest", "2024-01-15")}
    history = run_dedup(tables, "things_history", "2024-01-15")

    assert rows.keys() == {2, 9007199254740993}
    assert rows[2] == {
        "thing_id": 2,
        "seen_on": date(2024, 1, 15),
        "label": None,
        "weight": None,
        "active": None,
        "at": None,
        "tags": None,
        "meta": None,
        "message_id": "t2",
        "publish_time": t("2024-01-15T10:00:01Z"),
    }
    first = rows[9007199254740993]
    assert (first["label"], first["weight"], first["active"]) == ('héllo "quoted"', 2159.56, False)
    assert first["at"] == t("2024-01-15T09:00:00.123456Z")
    assert (first["tags"], first["meta"]) == (["a", 1], {"nested": {"x": None}})
    assert len(history) == 2
    assert {r["valid_from"] for r in history} == {t("2024-01-15T00:00:00Z")}


@pytest.mark.parametrize("job_name", ["orders_latest", "orders_history", "things_latest"])
def test_semantic_table_takes_the_select_as_it_is(
    function_client: Any, tables: Tables, job_name: str
) -> None:
    publish(function_client, "orders", order(1), "m1")
    publish(function_client, "things", {"thing_id": 1, "seen_on": "2024-01-15", "tags": []}, "t1")
    job = get_dedup_job(tables.spec, job_name)
    table = get_semantic_table(job.topic, tables.spec.topics[job.topic], job)
    dataset = f"{tables.prefix}{table.dataset}"
    ensure_table(tables.client, "local", dataset, table._replace(dataset=dataset))

    # Positional INSERT: the SELECT's columns must be the table's, in order, with their types.
    tables.query(
        f"INSERT INTO `local.{dataset}.{table.table}` {dedup_sql(tables, job_name)}",
        partition_params("2024-01-15"),
    )

    filter_column = job.destination.partition_field
    [count] = tables.query(
        f"SELECT COUNT(*) AS n FROM `local.{dataset}.{table.table}` "
        f"WHERE {filter_column} = DATE '2024-01-15'"
    )
    assert count["n"] == 1


def test_ingest_rows_older_than_the_lookback_are_not_read(
    function_client: Any, tables: Tables
) -> None:
    publish(function_client, "orders", order(1), "recent")
    [stored] = tables.ingested()
    # A row ingested 3 days before the partition (impossible for a valid event: the function
    # refuses event times more than a day ahead of ingestion).
    old = {**stored, "message_id": "old", "ingested_at": t("2024-01-11T23:00:00Z")}
    table = tables.client.get_table(tables.ingest_table("orders").strip("`"))
    assert tables.client.insert_rows(table, [old]) == []

    rows = run_dedup(tables, "orders_history", "2024-01-15")

    assert INGEST_LOOKBACK.days == 2
    assert [r["message_id"] for r in rows] == ["recent"]


def test_ingest_rows_later_than_the_lateness_allowance_are_not_read(
    function_client: Any, tables: Tables
) -> None:
    publish(function_client, "orders", order(1), "replayed")  # a 2024 event, ingested today
    [stored] = tables.ingested()
    # 2024-01-15 in Europe/Stockholm ends at 2024-01-15T23:00Z: 7 days later is the bound.
    late = [
        {**stored, "message_id": "in-time", "ingested_at": t("2024-01-22T22:59:59Z")},
        {**stored, "message_id": "too-late", "ingested_at": t("2024-01-22T23:00:00Z")},
    ]
    table = tables.client.get_table(tables.ingest_table("orders").strip("`"))
    assert tables.client.insert_rows(table, late) == []
    job = get_dedup_job(tables.spec, "orders_history")
    topic = tables.spec.topics["orders"]

    def read(allowed_lateness_days: int | None) -> list[str]:
        bounded = job.model_copy(update={"allowed_lateness_days": allowed_lateness_days})
        sql = build_dedup_sql("orders", topic, bounded, f"local.{tables.prefix}ingest")
        return sorted(r["message_id"] for r in tables.query(sql, partition_params("2024-01-15")))

    assert DedupJob.model_fields["allowed_lateness_days"].default == 7
    assert read(7) == ["in-time"]
    assert read(None) == ["in-time", "replayed", "too-late"]


def topic_with(**fields: TopicField) -> Topic:
    return Topic(
        fields={"id": TopicField(type="string"), "at": TopicField(type="timestamp"), **fields},
        key=["id"],
        event_time="at",
    )


def job_with(partition_field: str = "partition_date", partition_type: str = "DATE") -> DedupJob:
    destination = Destination(
        dataset="semantic",
        table="things",
        partition_field=partition_field,
        partition_type=partition_type,  # type: ignore[arg-type]
    )
    return DedupJob(kind="dedup", topic="things", destination=destination)


@pytest.mark.parametrize(
    ("topic", "job", "message"),
    [
        (
            topic_with(),
            job_with().model_copy(update={"topic": "other"}),
            "dedup job of topic 'things': the job reads topic 'other', not 'things'",
        ),
        (
            topic_with(message_id=TopicField(type="string")),
            job_with(),
            "topics.things.fields.message_id: the semantic table adds a column 'message_id' "
            "(expected another field name)",
        ),
        (
            Topic(
                fields={"id": TopicField(type="object"), "at": TopicField(type="timestamp")},
                key=["id"],
                event_time="at",
            ),
            job_with(),
            "topics.things.key: field 'id' is a object (expected one of: string, integer, "
            "boolean, timestamp, date)",
        ),
        (
            Topic(
                fields={"id": TopicField(type="string"), "at": TopicField(type="string")},
                key=["id"],
                event_time="at",
            ),
            job_with(),
            "topics.things.event_time: field 'at' is a string (expected a timestamp or date field)",
        ),
        (
            topic_with(),
            job_with("at", "DATE"),
            "dedup job of topic 'things': destination.partition_field 'at' is a topic field other "
            "than the DATE event time (expected 'at' with a matching partition_type, or a new "
            "column name that dayflow fills with the partition)",
        ),
        (
            topic_with(),
            job_with("valid_from", "TIMESTAMP"),
            "destination.partition_field 'valid_from' is a column the semantic table computes",
        ),
    ],
)
def test_jobs_that_cannot_build_a_semantic_table_are_refused(
    topic: Topic, job: DedupJob, message: str
) -> None:
    for build in (
        lambda: get_semantic_table("things", topic, job),
        lambda: build_dedup_sql("things", topic, job, "local.ingest"),
    ):
        with pytest.raises(SpecError, match=re.escape(message)):
            build()


def test_ingest_dataset_id_is_validated() -> None:
    from dayflow.errors import UserError

    with pytest.raises(UserError, match=re.escape("dataset 'ingest;drop' is not a valid")):
        build_dedup_sql("things", topic_with(), job_with(), "local.ingest;drop")


def test_semantic_table_columns() -> None:
    job = job_with().model_copy(update={"history": True})
    table = get_semantic_table("things", topic_with(n=TopicField(type="integer")), job)

    assert [(c.name, c.type, c.mode) for c in table.columns] == [
        ("partition_date", "DATE", "REQUIRED"),
        ("id", "STRING", "REQUIRED"),
        ("at", "TIMESTAMP", "REQUIRED"),
        ("n", "INT64", "NULLABLE"),
        ("message_id", "STRING", "REQUIRED"),
        ("publish_time", "TIMESTAMP", "REQUIRED"),
        ("valid_from", "TIMESTAMP", "REQUIRED"),
        ("valid_to", "TIMESTAMP", "NULLABLE"),
        ("is_current", "BOOL", "REQUIRED"),
    ]
    assert (table.partition_field, table.clustering) == ("partition_date", ("id",))
