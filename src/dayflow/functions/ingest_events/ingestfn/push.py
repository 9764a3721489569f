"""Raw Pub/Sub push envelopes that functions-framework cannot turn into a CloudEvent.

functions-framework 3.10.2 converts a push envelope (`{"message": {...}, "subscription": ...}`)
only when its message has both `data` and `messageId`. Pub/Sub also delivers messages with
attributes and no data ("it must contain either a non-empty data field, or at least one
attribute": https://cloud.google.com/pubsub/docs/reference/rest/v1/PubsubMessage; the push format
is https://cloud.google.com/pubsub/docs/push). For those its conversion fails with a 400 or 500,
Pub/Sub retries, and the message ends in the dead-letter topic instead of the dead-letter table.
`read_unconvertible_push` reads such an envelope (or one with empty data) as the CloudEvent
functions-framework would have made, so that the function dead-letters it with a reason like any
other bad message.
"""

from __future__ import annotations

import json
import re
from typing import Any

# The push endpoint's path names the topic, as functions-framework reads it.
_TOPIC_PATH = re.compile(r"projects/[^/?]+/topics/[^/?]+")
CE_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"


def read_unconvertible_push(
    path: str, body: bytes, *, binary_cloudevent: bool
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The CloudEvent attributes and data of a push envelope functions-framework cannot convert,
    or None for any other request (CloudEvents and convertible envelopes go its usual way).

    `binary_cloudevent`: the request has a `ce-specversion` header.
    """
    if binary_cloudevent:
        return None
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    if not isinstance(envelope, dict) or "specversion" in envelope or "context" in envelope:
        return None  # a structured CloudEvent, a background event, or not JSON at all
    message = envelope.get("message")
    if "subscription" not in envelope or not isinstance(message, dict):
        return None
    if message.get("data") and "messageId" in message:
        return None  # functions-framework converts it (it would also convert empty data, but
        # drop the subscription on the way: read those here too)
    topic = _TOPIC_PATH.search(path)
    attributes = {
        "specversion": "1.0",
        "id": str(message.get("messageId") or message.get("message_id") or ""),
        "source": f"//pubsub.googleapis.com/{topic.group(0)}" if topic else "",
        "type": CE_TYPE,
        "time": message.get("publishTime") or message.get("publish_time"),
    }
    return attributes, envelope
