"""Payload checks of the ingest function (its `ingestfn.validation` module), value by value."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingestfn.envelope import parse_timestamp
from ingestfn.errors import Rejection
from ingestfn.settings import FieldSchema, TopicSchema
from ingestfn.validation import check_schema, decode_payload, parse_json

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def topic(**fields: FieldSchema) -> TopicSchema:
    return TopicSchema(
        name="things",
        dataset="ingest",
        table="events_things",
        schema_version=3,
        fields={
            "id": FieldSchema("string", required=True),
            "at": FieldSchema("timestamp"),
            **fields,
        },
        key=("id",),
        event_time="at",
        max_payload_bytes=100,
    )


def check(payload: dict[str, object], **fields: FieldSchema) -> None:
    check_schema(payload, topic(**fields), now=NOW, max_ahead=timedelta(days=1))


def violation(payload: dict[str, object], **fields: FieldSchema) -> str:
    with pytest.raises(Rejection) as caught:
        check({"id": "x", "at": "2024-06-01T00:00:00Z", **payload}, **fields)
    assert caught.value.reason == "schema_violation"
    return caught.value.detail


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (FieldSchema("integer"), 1.5, "field 'v': 1.5 is a number (expected an integer)"),
        (FieldSchema("integer"), True, "field 'v': true is a boolean (expected an integer)"),
        (
            FieldSchema("integer"),
            2**63,
            "field 'v': 9223372036854775808 is out of the INT64 range (expected a 64-bit integer)",
        ),
        (FieldSchema("number"), "1", "field 'v': \"1\" is a string (expected a number)"),
        (
            FieldSchema("number"),
            10**400,
            "is out of the FLOAT64 range (expected a finite number)",
        ),
        (FieldSchema("boolean"), 0, "field 'v': 0 is a number (expected true or false)"),
        (FieldSchema("date"), "2024-02-30", "field 'v': \"2024-02-30\" is not a date"),
        (FieldSchema("date"), "2024-2-3", "is not a date (expected YYYY-MM-DD)"),
        (FieldSchema("timestamp"), "2024-06-01T00:00:00", "is not a timestamp"),  # no zone
        (FieldSchema("timestamp"), "2024-06-01t00:00:00z", "is not a timestamp"),
        (FieldSchema("timestamp"), "2024-06-01T00:00:00.1234567Z", "is not a timestamp"),
        (FieldSchema("timestamp"), "2024-13-01T00:00:00Z", "is not a timestamp"),
        (FieldSchema("object"), [], "field 'v': [] is an array (expected an object)"),
        (FieldSchema("array"), {}, "field 'v': {} is an object (expected an array)"),
        (FieldSchema("string", enum=("a", "b")), "c", "field 'v': \"c\" is not one of a, b"),
        (FieldSchema("integer", enum=(1, 2)), 3, "field 'v': 3 is not one of 1, 2"),
        (FieldSchema("string", enum=("a",)), "x" * 200, f'"{"x" * 76}... is not one of a'),
    ],
)
def test_value_that_breaks_its_field_type_is_named(
    field: FieldSchema, value: object, expected: str
) -> None:
    assert expected in violation({"v": value}, v=field)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (FieldSchema("integer"), -(2**63)),
        (FieldSchema("number"), 3),
        (FieldSchema("boolean"), False),
        (FieldSchema("timestamp"), "2024-06-01 00:00:00.123456+02:00"),
        (FieldSchema("date"), "2024-02-29"),
        (FieldSchema("object"), {"a": [1]}),
        (FieldSchema("array"), [{"a": 1}]),
        (FieldSchema("string", required=False), None),
    ],
)
def test_value_of_its_field_type_passes(field: FieldSchema, value: object) -> None:
    check({"id": "x", "at": "2024-06-01T00:00:00Z", "v": value}, v=field)


def test_undeclared_fields_are_allowed() -> None:
    check({"id": "x", "at": "2024-06-01T00:00:00Z", "added_later": [1, 2]})


def test_key_and_event_time_are_required_even_if_optional_in_the_schema() -> None:
    with pytest.raises(Rejection, match=re.escape("field 'at' is missing (required)")):
        check({"id": "x"})


def test_event_time_more_than_a_day_ahead_is_refused_but_a_little_ahead_passes() -> None:
    check({"id": "x", "at": "2024-06-02T11:59:59Z"})
    assert "is more than 24 hours after its ingestion" in violation({"at": "2024-06-02T12:00:01Z"})


def test_all_bad_fields_are_listed_with_the_schema_version() -> None:
    detail = violation({"id": 5, "v": "no"}, v=FieldSchema("boolean"))
    assert detail == (
        "schema version 3: field 'id': 5 is a number (expected a string); "
        "field 'v': \"no\" is a string (expected true or false)"
    )


@pytest.mark.parametrize(
    ("data", "reason", "detail"),
    [
        ("%%%", "undecodable_base64", "message data is not valid base64"),
        ("YWJj=", "undecodable_base64", "message data is not valid base64"),
        (base64.b64encode(b"a" * 101).decode(), "oversized_payload", "payload is 101 bytes"),
        (base64.b64encode(b"ok\xc3(").decode(), "non_utf8", "byte 0xc3 at offset 2"),
    ],
)
def test_payload_that_cannot_be_decoded_is_rejected(data: str, reason: str, detail: str) -> None:
    with pytest.raises(Rejection) as caught:
        decode_payload(data, max_bytes=100)
    assert caught.value.reason == reason
    assert detail in caught.value.detail


def test_payload_at_the_size_limit_passes() -> None:
    assert decode_payload(base64.b64encode(b"a" * 100).decode(), max_bytes=100) == "a" * 100


@pytest.mark.parametrize("text", ["", "  ", "{", '{"a": Infinity}', "[1,]"])
def test_text_that_is_not_json_is_bad_json(text: str) -> None:
    with pytest.raises(Rejection) as caught:
        parse_json(text)
    assert caught.value.reason == "bad_json"


@given(st.datetimes(min_value=datetime(1970, 1, 1), timezones=st.just(UTC)))
def test_parse_timestamp_reads_what_pubsub_writes(value: datetime) -> None:
    text = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_timestamp(text) == value


def test_parse_timestamp_truncates_nanoseconds_and_converts_offsets() -> None:
    assert parse_timestamp("2024-01-01T01:00:00.123456789+01:00") == datetime(
        2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC
    )
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(1704067200) is None
