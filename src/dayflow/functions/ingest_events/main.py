"""Cloud Function `ingest_event`: lands Pub/Sub messages in BigQuery, losing none.

Trigger: CloudEvents of type `google.cloud.pubsub.topic.v1.messagePublished` (Eventarc), or raw
Pub/Sub push envelopes (functions-framework converts them, except those of messages without data,
which the function reads itself; the push endpoint's path must end in
`/projects/PROJECT/topics/TOPIC`).

Reads: the environment (`INGEST_PROJECT`, `INGEST_DEAD_LETTER_TABLE`, `INGEST_CONFIG_FILE`,
`INGEST_BIGQUERY_ENDPOINT`, `INGEST_MAX_BATCH_ROWS`; see ingestfn/settings.py) and the topic
config file generated from the dayflow spec.

Result: each message becomes one row of its topic's ingest table (insertId = message id), or,
when the message itself is bad (no data, undecodable base64, non-UTF-8, bad JSON, schema
violation, oversized, unknown topic), one row of the dead-letter table with the reason and the
raw bytes; either way the function returns normally and Pub/Sub acknowledges the message.

Failure: when BigQuery cannot store the row (5xx, 429, timeouts, 403/404) the function raises,
so Pub/Sub redelivers; the subscription's dead-letter policy bounds the attempts.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import flask
import functions_framework

from ingestfn.ingestor import Ingestor
from ingestfn.push import read_unconvertible_push

if TYPE_CHECKING:
    from cloudevents.http import CloudEvent

_ingestor: Ingestor | None = None
_ingestor_lock = threading.Lock()


def get_ingestor() -> Ingestor:
    """The instance's one `Ingestor` (and BigQuery connection pool), created on first use."""
    global _ingestor
    if _ingestor is None:
        with _ingestor_lock:
            if _ingestor is None:
                _ingestor = Ingestor.from_env()
    return _ingestor


def close_ingestor() -> None:
    """Close and forget the instance's `Ingestor` (the next event creates a new one)."""
    global _ingestor
    with _ingestor_lock:
        if _ingestor is not None:
            _ingestor.close()
            _ingestor = None


@functions_framework.cloud_event
def ingest_event(cloud_event: CloudEvent) -> None:
    """Store one Pub/Sub message, or dead-letter it with the reason; raise to get it redelivered."""
    get_ingestor().ingest(cloud_event.get_attributes(), cloud_event.data)


def read_push_without_data() -> str | None:
    """Ingest a push envelope functions-framework cannot convert (a message without data), before
    its conversion fails; None lets every other request through (see ingestfn/push.py)."""
    request = flask.request
    event = read_unconvertible_push(
        request.path,
        request.get_data(),
        binary_cloudevent=request.headers.get("ce-specversion") is not None,
    )
    if event is None:
        return None
    get_ingestor().ingest(*event)
    return "OK"


# functions-framework runs this module inside its Flask app's context (create_app), before the app
# serves any request: the hook runs ahead of its CloudEvent conversion.
if flask.has_app_context():
    flask.current_app.before_request(read_push_without_data)
