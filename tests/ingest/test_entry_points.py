"""The ingest function through functions-framework's `create_app`, against the BigQuery emulator:
every delivery format, every permanent problem, and errors that must be raised."""

from __future__ import annotations

import base64
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.ingest.ingest_helpers import (
    MAX_PAYLOAD_BYTES,
    FakeHttpServer,
    Tables,
    binary_event,
    order,
    pubsub_message,
    push_envelope,
    structured_event,
)


def post_binary(client: Any, topic: str, message: dict[str, Any]) -> Any:
    headers, body = binary_event(topic, message)
    return client.post("/", headers=headers, data=body)


def test_binary_cloudevent_is_stored_with_message_id_as_row(
    function_client: Any, tables: Tables
) -> None:
    message = pubsub_message(order(1), "m-binary", attributes={"source": "shop"})
    message["orderingKey"] = "o00001"

    response = post_binary(function_client, "orders", message)

    assert response.status_code == 200
    [row] = tables.ingested()
    assert row["message_id"] == "m-binary"
    assert row["publish_time"] == datetime(2024, 1, 15, 10, 0, 1, 250000, tzinfo=UTC)
    assert row["attributes"] == {"source": "shop"}
    assert row["data"] == order(1)
    assert row["ordering_key"] == "o00001"
    assert (row["topic"], row["schema_version"]) == ("orders", 1)
    assert abs(row["ingested_at"] - datetime.now(UTC)) < timedelta(minutes=1)
    assert tables.dead_letters() == []


def test_structured_cloudevent_is_stored(function_client: Any, tables: Tables) -> None:
    headers, body = structured_event("orders", pubsub_message(order(2), "m-structured"))

    response = function_client.post("/", headers=headers, data=body)

    assert response.status_code == 200
    [row] = tables.ingested()
    assert (row["message_id"], row["data"]) == ("m-structured", order(2))


# functions-framework 3.10.2 calls the deprecated `datetime.utcnow()` for every raw push envelope
# (the default of a dict.get, evaluated even when publishTime is present).
FF_UTCNOW = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")


@FF_UTCNOW
@pytest.mark.parametrize(
    ("attributes", "stored"),
    [({"origin": "replay"}, {"origin": "replay"}), (None, {})],
    ids=["with-attributes", "without-attributes"],
)
def test_raw_push_envelope_is_stored(
    function_client: Any,
    tables: Tables,
    attributes: dict[str, str] | None,
    stored: dict[str, str],
) -> None:
    message = pubsub_message(order(3), "m-push", attributes=attributes)

    # A push subscription's endpoint names the topic: functions-framework reads it from the path.
    response = function_client.post(
        "/projects/local/topics/orders",
        data=push_envelope(message),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 200
    [row] = tables.ingested()
    assert (row["message_id"], row["attributes"], row["data"]) == ("m-push", stored, order(3))


@FF_UTCNOW
def test_push_envelope_to_an_endpoint_without_topic_is_dead_lettered(
    function_client: Any, tables: Tables
) -> None:
    message = pubsub_message(order(3), "m-nowhere")

    response = function_client.post(
        "/", data=push_envelope(message), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 200
    [row] = tables.dead_letters()
    assert (row["reason"], row["topic"]) == ("unknown_topic", None)
    assert row["detail"].startswith("the CloudEvent source names no topic")


# Pub/Sub accepts a message with attributes and no data ("it must contain either a non-empty data
# field, or at least one attribute": https://cloud.google.com/pubsub/docs/reference/rest/v1/PubsubMessage),
# and delivers it without `data`, in a push envelope (https://cloud.google.com/pubsub/docs/push)
# or an Eventarc CloudEvent. functions-framework 3.10.2 cannot convert such a push envelope (a
# TypeError, a 500): the function reads it first.
ATTRIBUTES_ONLY = {"attributes": {"kind": "ping"}, "publishTime": "2024-01-15T10:00:01Z"}
NO_DATA_DETAIL = (
    "message has no data, only attributes (kind) (expected a JSON payload in data, base64-encoded)"
)


@pytest.mark.parametrize("delivery", ["push", "push-empty-data", "binary-cloudevent"])
def test_attribute_only_message_is_dead_lettered_with_a_reason(
    function_client: Any, tables: Tables, delivery: str
) -> None:
    message = {**ATTRIBUTES_ONLY, "messageId": f"m-{delivery}"}
    if delivery == "push-empty-data":
        message["data"] = ""
    if delivery.startswith("push"):
        response = function_client.post(
            "/projects/local/topics/orders",
            data=push_envelope(message),
            headers={"Content-Type": "application/json"},
        )
    else:
        response = post_binary(function_client, "orders", message)

    assert response.status_code == 200, response.text  # acknowledged, not redelivered
    [row] = tables.dead_letters()
    assert (row["message_id"], row["topic"], row["reason"]) == (
        f"m-{delivery}",
        "orders",
        "no_data",
    )
    assert row["detail"] == NO_DATA_DETAIL
    assert row["attributes"] == {"kind": "ping"}
    assert row["subscription"] == "projects/local/subscriptions/orders-ingest"
    assert row["publish_time"] == datetime(2024, 1, 15, 10, 0, 1, tzinfo=UTC)
    assert tables.ingested() == []


@FF_UTCNOW
def test_push_request_that_is_not_an_envelope_is_still_refused(function_client: Any) -> None:
    response = function_client.post(
        "/projects/local/topics/orders",
        data=json.dumps({"subscription": "projects/local/subscriptions/x"}),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code >= 400  # neither a CloudEvent nor a push envelope


def test_redelivered_message_is_stored_once(function_client: Any, tables: Tables) -> None:
    message = pubsub_message(order(4), "m-twice")

    for _ in range(3):
        assert post_binary(function_client, "orders", message).status_code == 200

    assert [row["message_id"] for row in tables.ingested()] == ["m-twice"]


def oversized() -> bytes:
    return json.dumps(order(5, note="x" * MAX_PAYLOAD_BYTES)).encode()


# (topic, payload bytes or None, base64 text override or None, reason, detail pattern)
PERMANENT_PROBLEMS = {
    "undecodable_base64": (
        "orders",
        None,
        "not*base64!",
        "undecodable_base64",
        "message data is not valid base64",
    ),
    "non_utf8": (
        "orders",
        b'{"order_id": "\xff\xfe"}',
        None,
        "non_utf8",
        "payload is not UTF-8: byte 0xff at offset 14",
    ),
    "bad_json": ("orders", b'{"order_id": "o1",', None, "bad_json", "payload is not valid JSON"),
    "nan": (
        "orders",
        json.dumps(order(6, amount=float("nan"))).encode(),
        None,
        "bad_json",
        "NaN is not a JSON number",
    ),
    "schema_violation": (
        "orders",
        json.dumps(order(7, status="lost")).encode(),
        None,
        "schema_violation",
        "field 'status': \"lost\" is not one of placed, paid, shipped, cancelled",
    ),
    "missing_field": (
        "orders",
        json.dumps({**order(7), "amount": None}).encode(),
        None,
        "schema_violation",
        "schema version 1: field 'amount' is missing (required)",
    ),
    "wrong_type": (
        "orders",
        json.dumps(order(8, amount="12.50", updated_at="15/01/2024")).encode(),
        None,
        "schema_violation",
        "field 'updated_at': \"15/01/2024\" is not a timestamp (expected RFC 3339",
    ),
    "not_an_object": ("orders", b"[1, 2]", None, "schema_violation", "payload is an array"),
    "oversized": (
        "orders",
        oversized(),
        None,
        "oversized_payload",
        f"payload is {len(oversized())} bytes (expected at most {MAX_PAYLOAD_BYTES})",
    ),
    "unknown_topic": (
        "returns",
        json.dumps(order(9)).encode(),
        None,
        "unknown_topic",
        "topic 'returns' is not in the spec (expected one of: customers, orders, things)",
    ),
    # Valid JSON that BigQuery refuses (an unpaired surrogate): the emulator rejects the row.
    "rejected_by_bigquery": (
        "orders",
        json.dumps(order(10, customer_id="c\ud800")).encode(),
        None,
        "rejected_by_bigquery",
        "surrogate",
    ),
}


@pytest.mark.parametrize("case", PERMANENT_PROBLEMS, ids=list(PERMANENT_PROBLEMS))
def test_permanent_problem_is_dead_lettered_and_acked(
    function_client: Any, tables: Tables, case: str
) -> None:
    topic, payload, data, reason, detail = PERMANENT_PROBLEMS[case]
    message = pubsub_message(payload or b"", f"m-{case}", attributes={"k": "v"}, data=data)

    response = post_binary(function_client, topic, message)

    assert response.status_code == 200  # acknowledged: Pub/Sub must not redeliver it
    [row] = tables.dead_letters()
    assert (row["message_id"], row["topic"], row["reason"]) == (f"m-{case}", topic, reason)
    assert re.search(re.escape(detail), row["detail"]), row["detail"]
    assert row["raw_data"] == message["data"]  # the bytes exactly as received
    assert row["attributes"] == {"k": "v"}
    assert row["subscription"] == f"projects/local/subscriptions/{topic}-ingest"
    assert tables.ingested() == []


def test_cloudevent_without_message_is_dead_lettered(function_client: Any, tables: Tables) -> None:
    headers, _ = binary_event("orders", pubsub_message(order(11), "m-envelope"))

    response = function_client.post("/", headers=headers, data=b'{"unexpected": true}')

    assert response.status_code == 200
    [row] = tables.dead_letters()
    assert (row["message_id"], row["reason"]) == ("m-envelope", "bad_envelope")
    assert row["detail"] == "CloudEvent data has no 'message' object (got an object)"


def test_event_time_far_in_the_future_is_a_schema_violation(
    function_client: Any, tables: Tables
) -> None:
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")

    post_binary(function_client, "orders", pubsub_message(order(12, updated_at=future), "m-f"))

    [row] = tables.dead_letters()
    assert row["reason"] == "schema_violation"
    assert "is more than 24 hours after its ingestion" in row["detail"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, {"error": {"message": "backend unavailable"}}),
        (500, {}),
        (429, {"error": {"message": "rate limit"}}),
        (404, {"error": {"message": "Not found: Table"}}),
        (200, {"insertErrors": [{"index": 0, "errors": [{"reason": "backendError"}]}]}),
    ],
    ids=["503", "500", "429", "404-not-the-message-fault", "row-backend-error"],
)
def test_bigquery_failure_raises_so_pubsub_redelivers(
    function_client: Any,
    tables: Tables,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    body: dict[str, Any],
) -> None:
    message = pubsub_message(order(13), "m-retry")
    # The emulator cannot answer 5xx or 429: a fake BigQuery REST endpoint does.
    with FakeHttpServer(status, body) as fake:
        monkeypatch.setenv("INGEST_BIGQUERY_ENDPOINT", fake.url)

        response = post_binary(function_client, "orders", message)

        assert fake.requests, "the function did not call BigQuery"
    assert response.status_code == 500  # Pub/Sub redelivers on anything but 2xx
    assert response.headers["X-Google-Status"] == "crash"
    assert tables.dead_letters() == []

    # The redelivery, once BigQuery is back, stores the message.
    sys.modules["main"].close_ingestor()
    monkeypatch.setenv("INGEST_BIGQUERY_ENDPOINT", tables_endpoint(tables))
    assert post_binary(function_client, "orders", message).status_code == 200
    assert [row["message_id"] for row in tables.ingested()] == ["m-retry"]


def tables_endpoint(tables: Tables) -> str:
    return str(tables.client._connection.API_BASE_URL)


def test_unreachable_bigquery_raises(
    function_client: Any,
    tables: Tables,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FakeHttpServer() as closed:
        url = closed.url
    monkeypatch.setenv("INGEST_BIGQUERY_ENDPOINT", url)  # nothing listens there any more

    response = post_binary(function_client, "orders", pubsub_message(order(14), "m-refused"))

    assert response.status_code == 500
    assert "WriteError: insertAll failed to connect (ConnectionRefusedError" in caplog.text


def test_missing_settings_raise_on_every_event(
    function_client: Any,
    tables: Tables,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("INGEST_PROJECT")

    for _ in range(2):
        response = post_binary(function_client, "orders", pubsub_message(order(15)))
        assert response.status_code == 500
    expected = "ConfigError: INGEST_PROJECT is not set (expected the GCP project id)"
    assert caplog.text.count(expected) == 2


def test_metadata_token_is_sent_to_bigquery() -> None:
    from ingestfn.bigquery import MetadataTokenSource, RestInserter

    token = {"access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"}
    with FakeHttpServer(200, token) as metadata, FakeHttpServer(200, {}) as bigquery:
        source = MetadataTokenSource(f"{metadata.url}/computeMetadata/v1/token")
        inserter = RestInserter("acme-shop-dev", endpoint=bigquery.url, token_source=source)
        for n in range(2):
            assert inserter.insert_rows("ingest", "events_orders", [(f"m{n}", {"a": n})]) == [None]
        inserter.close()

    assert len(metadata.requests) == 1  # cached
    assert metadata.requests[0][1]["Metadata-Flavor"] == "Google"
    path, headers, body = bigquery.requests[0]
    assert (
        path == "/bigquery/v2/projects/acme-shop-dev/datasets/ingest/tables/events_orders/insertAll"
    )
    assert headers["Authorization"] == "Bearer ya29.test"
    assert json.loads(body)["rows"] == [{"insertId": "m0", "json": {"a": 0}}]


def test_dead_letter_keeps_raw_bytes_that_decode_back(function_client: Any, tables: Tables) -> None:
    raw = b"\x00\x01binary\xff"
    post_binary(function_client, "orders", pubsub_message(raw, "m-raw"))

    [row] = tables.dead_letters()
    assert base64.b64decode(row["raw_data"]) == raw
