"""The function's exception hierarchy.

Two outcomes matter to Pub/Sub: a `Rejection` is the message's own fault and is dead-lettered
and acknowledged; every other `IngestError` is raised so that Pub/Sub redelivers the message.
"""

from __future__ import annotations

# Why a message was dead-lettered: the `reason` column of the dead-letter table.
BAD_ENVELOPE = "bad_envelope"
UNKNOWN_TOPIC = "unknown_topic"
NO_DATA = "no_data"
UNDECODABLE_BASE64 = "undecodable_base64"
OVERSIZED_PAYLOAD = "oversized_payload"
NON_UTF8 = "non_utf8"
BAD_JSON = "bad_json"
SCHEMA_VIOLATION = "schema_violation"
REJECTED_BY_BIGQUERY = "rejected_by_bigquery"

REASONS = (
    BAD_ENVELOPE,
    UNKNOWN_TOPIC,
    NO_DATA,
    UNDECODABLE_BASE64,
    OVERSIZED_PAYLOAD,
    NON_UTF8,
    BAD_JSON,
    SCHEMA_VIOLATION,
    REJECTED_BY_BIGQUERY,
)


class IngestError(Exception):
    """Base of every error the function raises on purpose."""


class Rejection(IngestError):
    """A permanent problem with one message: it goes to the dead-letter table, then is acked."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ConfigError(IngestError):
    """The function's settings or topic config are invalid; raised on every invocation."""


class WriteError(IngestError):
    """A BigQuery write failed for a reason that is not the row's fault.

    `transient` errors (5xx, 429, timeouts, lost connections) clear by themselves; others (404,
    403) need an operator. Both are raised so Pub/Sub redelivers: no message is dropped because
    the warehouse is unavailable or misconfigured.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
