"""Pub/Sub messages out of CloudEvents of type `google.cloud.pubsub.topic.v1.messagePublished`.

The CloudEvent's data is `{"message": {"data", "attributes", "messageId", "publishTime",
"orderingKey"}, "subscription"}` (Eventarc), and its source is
`//pubsub.googleapis.com/projects/PROJECT/topics/TOPIC`. functions-framework converts a raw Pub/Sub
push envelope into the same shape, taking the topic from the request path (push endpoints end in
`/projects/PROJECT/topics/TOPIC`) and dropping `subscription` and `orderingKey`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_SOURCE = re.compile(r"^//pubsub\.googleapis\.com/projects/[^/]+/topics/([^/]+)$")
# RFC 3339 as Pub/Sub writes it, with up to nanoseconds (BigQuery keeps microseconds).
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


@dataclass(frozen=True, slots=True)
class PubsubMessage:
    """One delivered message, as far as the envelope could be read.

    `problem` says what was wrong with the envelope itself (then the message is dead-lettered
    with whatever could be read); `data` is the base64 text exactly as received.
    """

    message_id: str
    topic: str
    publish_time: datetime
    subscription: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    data: str | None = None
    ordering_key: str | None = None
    problem: str | None = None


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime (truncated to microseconds), or None."""
    if not isinstance(value, str) or not (match := _RFC3339.match(value)):
        return None
    day, time, fraction, zone = match.groups()
    micros = (fraction or "").ljust(6, "0")[:6]
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{day}T{time}.{micros}{zone}").astimezone(UTC)
    except ValueError:
        return None


def parse_event(attributes: Mapping[str, Any], data: Any, *, now: datetime) -> PubsubMessage:
    """Read the Pub/Sub message of a CloudEvent (its context `attributes` and `data`)."""
    event_id = str(attributes.get("id") or "")
    source = str(attributes.get("source") or "")
    topic_match = _SOURCE.match(source)
    topic = topic_match.group(1) if topic_match else ""
    fallback_time = parse_timestamp(attributes.get("time")) or now
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict):
        return PubsubMessage(
            message_id=event_id,
            topic=topic,
            publish_time=fallback_time,
            problem=f"CloudEvent data has no 'message' object (got {json_kind(data)})",
        )
    subscription = data.get("subscription")
    raw_attributes = message.get("attributes") or {}
    message_id = message.get("messageId") or message.get("message_id") or event_id
    payload = message.get("data")
    problem = None
    if not isinstance(raw_attributes, dict):
        problem = f"message attributes are {json_kind(raw_attributes)} (expected an object)"
        raw_attributes = {}
    if payload is not None and not isinstance(payload, str):
        problem = f"message data is {json_kind(payload)} (expected a base64 string)"
        payload = json.dumps(payload)
    if not message_id:
        problem = "message has no messageId"
    ordering_key = message.get("orderingKey") or message.get("ordering_key")
    return PubsubMessage(
        message_id=str(message_id),
        topic=topic,
        publish_time=parse_timestamp(message.get("publishTime") or message.get("publish_time"))
        or fallback_time,
        subscription=subscription if isinstance(subscription, str) else None,
        attributes={str(k): str(v) for k, v in raw_attributes.items()},
        data=payload,
        ordering_key=ordering_key if isinstance(ordering_key, str) and ordering_key else None,
        problem=problem,
    )


_JSON_KINDS = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number"}


def json_kind(value: object) -> str:
    """How a decoded JSON value reads in a message: 'an object', 'a string', 'null'."""
    if value is None:
        return "null"
    kind = _JSON_KINDS.get(type(value), "number")
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
