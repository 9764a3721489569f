"""A dead-lettered event is one log line with its reason, in Cloud Logging's fields, and never
with the payload's values (they may be personal data; the dead-letter table keeps them)."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from ingestfn.logs import CloudLoggingFormatter
from tests.ingest.ingest_helpers import Tables, binary_event, order, pubsub_message


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter())
    logger = logging.getLogger("ingestfn")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_a_dead_lettered_event_is_one_line_with_its_reason_and_no_values(
    function_client: Any, tables: Tables, log_lines: io.StringIO
) -> None:
    payload = order(7, status="lost-in-space-4711")  # not in the topic's enum
    headers, body = binary_event("orders", pubsub_message(payload, "m-logged"))

    assert function_client.post("/", headers=headers, data=body).status_code == 200

    [row] = tables.dead_letters()
    assert "lost-in-space-4711" in row["detail"]  # the table keeps what was wrong
    [line] = [json.loads(text) for text in log_lines.getvalue().splitlines()]
    assert line["severity"] == "WARNING"
    assert line["message"] == "dead-lettered message 'm-logged' of topic 'orders': schema_violation"
    assert line["logging.googleapis.com/labels"] == {
        "topic": "orders",
        "reason": "schema_violation",
    }
    assert line["message_id"] == "m-logged"
    text = log_lines.getvalue()
    assert "lost-in-space-4711" not in text
    assert base64.b64encode(json.dumps(payload).encode()).decode()[:20] not in text
