"""Builders for the ingest tests: a test spec, Pub/Sub messages in each delivery format, and
queries of the ingest, dead-letter and semantic tables."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dayflow.package_files import get_ingest_function_dir
from dayflow.spec import DedupJob, Spec, load_spec
from dayflow.tables import DEAD_LETTER, get_ingest_table

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = get_ingest_function_dir()
FUNCTION_SOURCE = FUNCTION_DIR / "main.py"
CE_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
MAX_PAYLOAD_BYTES = 2048  # small, so that oversized payloads stay cheap to produce

SPEC = """
version: 1
name: ingest_test
environments:
  local: {{gcp_project: local, dataset_prefix: {prefix}}}
pipelines:
  events_daily:
    granularity: day
    timezone: Europe/Stockholm
    schedule: "0 3 * * *"
    start: "2024-01-01"
    # The tests publish January 2024's events today, a replay: no lateness bound (one test
    # sets one).
    jobs:
      orders_latest:
        kind: dedup
        allowed_lateness_days: null
        topic: orders
        destination: {{dataset: semantic, table: orders, partition_field: partition_date}}
      orders_history:
        kind: dedup
        allowed_lateness_days: null
        topic: orders
        history: true
        destination: {{dataset: semantic, table: orders_history, partition_field: partition_date}}
      things_latest:
        kind: dedup
        allowed_lateness_days: null
        topic: things
        destination: {{dataset: semantic, table: things, partition_field: seen_on}}
      things_history:
        kind: dedup
        allowed_lateness_days: null
        topic: things
        history: true
        destination: {{dataset: semantic, table: things_history, partition_field: partition_date}}
topics:
  orders:
    key: [order_id]
    event_time: updated_at
    max_payload_bytes: {max_payload_bytes}
    fields:
      order_id: {{type: string, required: true}}
      customer_id: {{type: string, required: true}}
      status: {{type: string, required: true, enum: [placed, paid, shipped, cancelled]}}
      amount: {{type: number, required: true}}
      currency: {{type: string, enum: [SEK, EUR]}}
      updated_at: {{type: timestamp, required: true}}
  customers:
    key: [customer_id]
    event_time: updated_at
    fields:
      customer_id: {{type: string, required: true}}
      name: {{type: string, required: true}}
      country: {{type: string, required: true}}
      segment: {{type: string, enum: [consumer, business]}}
      updated_at: {{type: timestamp, required: true}}
  things:
    key: [thing_id]
    event_time: seen_on
    fields:
      thing_id: {{type: integer, required: true}}
      seen_on: {{type: date, required: true}}
      label: {{type: string}}
      weight: {{type: number}}
      active: {{type: boolean}}
      at: {{type: timestamp}}
      tags: {{type: array}}
      meta: {{type: object}}
"""


def write_test_spec(directory: Path) -> Path:
    """The test spec, with a dataset prefix of its own so tests share one emulator."""
    path = directory / "dayflow.yaml"
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    path.write_text(SPEC.format(prefix=prefix, max_payload_bytes=MAX_PAYLOAD_BYTES))
    return path


def get_dedup_job(spec: Spec, name: str) -> DedupJob:
    job = spec.pipelines["events_daily"].jobs[name]
    assert isinstance(job, DedupJob)
    return job


def order(number: int, **changes: Any) -> dict[str, Any]:
    """A valid orders event."""
    event = {
        "order_id": f"o{number:05d}",
        "customer_id": f"c{number % 60 + 1:03d}",
        "status": "placed",
        "amount": round(10 + number * 0.37, 2),
        "currency": "SEK",
        "updated_at": "2024-01-15T10:00:00Z",
    }
    return {**event, **changes}


def encode(payload: dict[str, Any] | bytes) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.b64encode(raw).decode()


def pubsub_message(
    payload: dict[str, Any] | bytes,
    message_id: str | None = None,
    *,
    attributes: dict[str, str] | None = None,
    data: str | None = None,
) -> dict[str, Any]:
    """A Pub/Sub message as push and Eventarc deliver it; `data` overrides the base64 text."""
    message = {
        "data": data if data is not None else encode(payload),
        "messageId": message_id or uuid.uuid4().hex,
        "publishTime": "2024-01-15T10:00:01.250Z",
    }
    if attributes is not None:
        message["attributes"] = attributes
    return message


def source(topic: str, project: str = "local") -> str:
    return f"//pubsub.googleapis.com/projects/{project}/topics/{topic}"


def binary_event(topic: str, message: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """Headers and body of a binary-mode CloudEvent, as Eventarc posts it."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": message["messageId"],
        "ce-source": source(topic),
        "ce-type": CE_TYPE,
        "ce-time": message["publishTime"],
        "Content-Type": "application/json",
    }
    body = {"message": message, "subscription": f"projects/local/subscriptions/{topic}-ingest"}
    return headers, json.dumps(body).encode()


def structured_event(topic: str, message: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """Headers and body of a structured-mode CloudEvent."""
    event = {
        "specversion": "1.0",
        "id": message["messageId"],
        "source": source(topic),
        "type": CE_TYPE,
        "time": message["publishTime"],
        "datacontenttype": "application/json",
        "data": {"message": message, "subscription": "projects/local/subscriptions/s-ingest"},
    }
    return {"Content-Type": "application/cloudevents+json"}, json.dumps(event).encode()


def push_envelope(message: dict[str, Any], subscription: str = "orders-ingest") -> bytes:
    """A raw Pub/Sub push request body (functions-framework turns it into a CloudEvent)."""
    body = {"message": message, "subscription": f"projects/local/subscriptions/{subscription}"}
    return json.dumps(body).encode()


@dataclass(frozen=True)
class Tables:
    """Queries of one test spec's ingest, dead-letter and semantic tables."""

    client: Any
    spec: Spec

    @property
    def prefix(self) -> str:
        return self.spec.get_environment("local").dataset_prefix

    def ingest_table(self, topic: str) -> str:
        table = get_ingest_table(topic, f"{self.prefix}ingest")
        return f"`local.{table.dataset}.{table.table}`"

    @property
    def dead_letter_table(self) -> str:
        return f"`local.{self.prefix}{DEAD_LETTER.dataset}.{DEAD_LETTER.table}`"

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=params or [])
        return [dict(row) for row in self.client.query_and_wait(sql, job_config=config)]

    def ingested(self, topic: str = "orders") -> list[dict[str, Any]]:
        return self.query(
            f"SELECT * FROM {self.ingest_table(topic)} "
            "WHERE ingested_at >= TIMESTAMP '2000-01-01' ORDER BY message_id"
        )

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.query(
            f"SELECT * FROM {self.dead_letter_table} "
            "WHERE received_at >= TIMESTAMP '2000-01-01' ORDER BY message_id"
        )


def load_test_spec(path: Path) -> Spec:
    return load_spec(path)


class FakeHttpServer:
    """A stand-in at the network boundary (BigQuery's REST API, the metadata server): answers
    every request with `status` and `body`, and records the requests it got."""

    def __init__(self, status: int = 200, body: dict[str, Any] | None = None) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.status = status
        self.body = body or {}
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fake.requests.append((self.path, dict(self.headers), self.rfile.read(length)))
                payload = json.dumps(fake.body).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
