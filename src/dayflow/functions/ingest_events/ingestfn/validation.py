"""Decoding and validating a message's payload against its topic's schema.

Checks run in the order a payload is unwrapped, and the first failing one names the reason:
base64 -> size -> UTF-8 -> JSON -> schema. Schema checks report every bad field at once, each
naming the field, the value and what was expected. Fields the schema does not declare are
allowed (producers may add fields before the spec does) and are kept in the ingest table.

The topic's key fields and event time are required even when the schema leaves them optional:
the semantic layer cannot place an event without them.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import date, datetime, timedelta
from typing import Any

from ingestfn.envelope import json_kind, parse_timestamp
from ingestfn.errors import (
    BAD_JSON,
    NON_UTF8,
    OVERSIZED_PAYLOAD,
    SCHEMA_VIOLATION,
    UNDECODABLE_BASE64,
    Rejection,
)
from ingestfn.settings import FieldSchema, TopicSchema

_INT64 = (-(2**63), 2**63 - 1)
# BigQuery reads these forms (the emulator refuses a lower-case 't' or 'z'); at most microseconds.
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_SHOWN = 80


def decode_payload(data: str | None, max_bytes: int) -> str:
    """The payload's text: base64-decoded, size-checked and UTF-8-decoded."""
    try:
        raw = base64.b64decode(data or "", validate=True)
    except (binascii.Error, ValueError) as err:
        raise Rejection(UNDECODABLE_BASE64, f"message data is not valid base64 ({err})") from err
    if len(raw) > max_bytes:
        raise Rejection(
            OVERSIZED_PAYLOAD, f"payload is {len(raw)} bytes (expected at most {max_bytes})"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Rejection(
            NON_UTF8, f"payload is not UTF-8: byte {raw[err.start]:#04x} at offset {err.start}"
        ) from err


def parse_json(text: str) -> Any:
    """The payload's JSON value; NaN and Infinity are refused, as BigQuery refuses them."""
    if not text.strip():
        raise Rejection(BAD_JSON, "payload is empty (expected a JSON object)")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as err:
        raise Rejection(BAD_JSON, f"payload is not valid JSON ({err})") from err


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_schema(payload: Any, topic: TopicSchema, *, now: datetime, max_ahead: timedelta) -> None:
    """Raise a `schema_violation` Rejection listing every field that breaks the topic's schema."""
    if not isinstance(payload, dict):
        raise Rejection(SCHEMA_VIOLATION, f"payload is {json_kind(payload)} (expected an object)")
    always_required = {*topic.key, topic.event_time}
    problems = []
    for name, field in topic.fields.items():
        value = payload.get(name)
        if value is None:
            if field.required or name in always_required:
                problems.append(f"field {name!r} is missing (required)")
            continue
        if problem := _check_value(value, field):
            problems.append(f"field {name!r}: {_show(value)} {problem}")
        elif name == topic.event_time and _is_ahead(value, field, now + max_ahead):
            problems.append(
                f"field {name!r}: {_show(value)} is more than {_show_delta(max_ahead)} after its "
                "ingestion (expected an event time that has happened)"
            )
    if problems:
        raise Rejection(
            SCHEMA_VIOLATION, f"schema version {topic.schema_version}: " + "; ".join(problems)
        )


def _check_value(value: Any, field: FieldSchema) -> str | None:
    """What is wrong with a non-null value for `field`, or None."""
    kind = field.type
    if kind == "string":
        if not isinstance(value, str):
            return f"is {json_kind(value)} (expected a string)"
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return f"is {json_kind(value)} (expected an integer)"
        if not _INT64[0] <= value <= _INT64[1]:
            return "is out of the INT64 range (expected a 64-bit integer)"
    elif kind == "number":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return f"is {json_kind(value)} (expected a number)"
        try:
            finite = math.isfinite(float(value))
        except OverflowError:
            finite = False
        if not finite:
            return "is out of the FLOAT64 range (expected a finite number)"
    elif kind == "boolean":
        if not isinstance(value, bool):
            return f"is {json_kind(value)} (expected true or false)"
    elif kind == "timestamp":
        if not isinstance(value, str) or not _TIMESTAMP.match(value) or not parse_timestamp(value):
            return "is not a timestamp (expected RFC 3339 like 2024-01-31T23:59:59.123456Z)"
    elif kind == "date":
        if not isinstance(value, str) or not _DATE.match(value) or not _parse_date(value):
            return "is not a date (expected YYYY-MM-DD)"
    elif kind == "object":
        if not isinstance(value, dict):
            return f"is {json_kind(value)} (expected an object)"
    elif kind == "array" and not isinstance(value, list):
        return f"is {json_kind(value)} (expected an array)"
    if field.enum is not None and value not in field.enum:
        return f"is not one of {', '.join(str(v) for v in field.enum)}"
    return None


def _is_ahead(value: str, field: FieldSchema, limit: datetime) -> bool:
    if field.type == "timestamp":
        when = parse_timestamp(value)
        return when is not None and when > limit
    day = _parse_date(value) if field.type == "date" else None
    return day is not None and day > limit.date()


def _parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _show(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."


def _show_delta(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} hours" if hours < 48 else f"{hours / 24:g} days"
