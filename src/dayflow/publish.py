"""Publishing events (one JSON document per line of a file) to a topic.

Targets: Pub/Sub (the local emulator, or GCP for other environments), or, where the local stack
runs without the emulator, CloudEvents posted straight to the ingest function, retried like
Pub/Sub would redeliver them (5xx and connection errors, with backoff).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dayflow.errors import DayflowError, UserError
from dayflow.local.functions import IngestMode, get_ingest_state
from dayflow.local.pubsub import get_ingest_subscription, make_publisher
from dayflow.spec import Spec

if TYPE_CHECKING:
    import httpx

CLOUDEVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
DIRECT_ATTEMPTS = 5  # like the subscriptions' max_delivery_attempts


class PublishError(DayflowError):
    """Some events could not be published."""


@dataclass(frozen=True, slots=True)
class PublishTarget:
    """Where events go: Pub/Sub (`pubsub_host` None means GCP) or the function directly."""

    mode: IngestMode
    project: str
    pubsub_host: str | None = None
    function_url: str | None = None
    # The local BigQuery emulator's URL; None means BigQuery in GCP.
    bigquery_endpoint: str | None = None
    # What the local push bridge prepends to the emulator's message ids.
    message_id_prefix: str = ""
    notice: str | None = None


@dataclass(frozen=True, slots=True)
class PublishResult:
    """Message ids of the published events, in input order, and when publishing started."""

    message_ids: list[str]
    started_at: datetime

    @property
    def published(self) -> int:
        return len(self.message_ids)


class EventPublisher(Protocol):
    """Publishes one message; the future resolves to its message id."""

    def publish(
        self, topic: str, data: bytes, attributes: dict[str, str] | None = None
    ) -> Future[str]: ...

    def close(self) -> None: ...


def get_publish_target(spec: Spec, env: str, state_dir: Path) -> PublishTarget:
    """The target for `env`: the running local stack's, or the environment's GCP project."""
    environment = spec.get_environment(env)
    if env != "local":
        return PublishTarget("pubsub", environment.gcp_project)
    state = get_ingest_state(state_dir)
    if state is None:
        raise UserError(
            f"the local ingest path is not running (no {state_dir}/ingest.json): "
            "run `dayflow local up` first"
        )
    return PublishTarget(
        state.mode,
        state.project,
        pubsub_host=state.pubsub_host,
        function_url=state.function_url,
        bigquery_endpoint=state.bigquery_endpoint,
        message_id_prefix=state.message_id_prefix,
        notice=state.notice,
    )


def read_events(path: Path) -> list[bytes]:
    """The non-blank lines of a JSONL file; each must be valid JSON (sent as it is)."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found (expected a JSONL file of events)") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror})") from None
    events = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError as err:
            raise UserError(f"{path}:{number}: not valid JSON ({err})") from None
        events.append(line.strip())
    return events


def open_publisher(target: PublishTarget, *, concurrency: int = 16) -> EventPublisher:
    """A publisher for `target`; close it when done."""
    if target.mode == "direct":
        if target.function_url is None:
            raise UserError("direct publishing needs the ingest function's URL")
        return DirectPublisher(target.function_url, target.project, concurrency=concurrency)
    return PubsubPublisher(
        target.project, target.pubsub_host, message_id_prefix=target.message_id_prefix
    )


def publish_events(
    publisher: EventPublisher,
    topic: str,
    events: Sequence[bytes],
    *,
    rate: float | None = None,
    on_published: Callable[[int], None] | None = None,
) -> PublishResult:
    """Publish `events` to `topic`, at most `rate` per second; wait until all are accepted.

    Raises:
        PublishError: naming how many failed and the first error.
    """
    if rate is not None and rate <= 0:
        raise UserError(f"rate {rate!r} is not positive (expected events per second)")
    futures: list[Future[str]] = []
    started_at = datetime.now(UTC)
    start = time.monotonic()
    for i, data in enumerate(events):
        if rate is not None:
            # Pace against the start, not the previous event: no drift over long files.
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        future = publisher.publish(topic, data)
        if on_published is not None:
            future.add_done_callback(lambda f: None if f.exception() else on_published(1))
        futures.append(future)
    message_ids, errors = [], []
    for future in futures:
        try:
            message_ids.append(future.result())
        except Exception as err:
            errors.append(err)
    if errors:
        raise PublishError(
            f"{len(errors)} of {len(events)} events to topic {topic!r} were not published; "
            f"first error: {errors[0]}"
        )
    return PublishResult(message_ids, started_at)


@dataclass(frozen=True, slots=True)
class StoredCounts:
    """How many published messages are in the ingest table, and in the dead-letter table."""

    ingested: int
    dead_lettered: int


def wait_until_stored(
    spec: Spec,
    env: str,
    topic: str,
    result: PublishResult,
    target: PublishTarget,
    *,
    timeout: float = 300.0,
) -> StoredCounts:
    """Wait until each published message is in the topic's ingest table or the dead-letter table.

    Raises:
        PublishError: some are in neither after `timeout` seconds.
    """
    from google.cloud import bigquery

    from dayflow.tables import DEAD_LETTER, get_ingest_table
    from dayflow.warehouse import TableRef, make_bigquery_client

    environment = spec.get_environment(env)
    ingest = get_ingest_table(topic, environment.get_dataset_id(spec.topics[topic].ingest_dataset))
    ingest_ref = TableRef(target.project, ingest.dataset, ingest.table)
    dead_ref = TableRef(
        target.project, environment.get_dataset_id(DEAD_LETTER.dataset), DEAD_LETTER.table
    )
    sql = f"""
SELECT
  (SELECT COUNT(DISTINCT message_id) FROM {ingest_ref.sql}
   WHERE ingested_at >= @since AND message_id IN UNNEST(@ids)) AS ingested,
  (SELECT COUNT(DISTINCT message_id) FROM {dead_ref.sql}
   WHERE received_at >= @since AND message_id IN UNNEST(@ids)) AS dead_lettered
"""
    wanted = set(result.message_ids)
    config = bigquery.QueryJobConfig(
        query_parameters=[
            # Clocks of publisher and function may differ a little: look a minute further back.
            bigquery.ScalarQueryParameter(
                "since", "TIMESTAMP", result.started_at - timedelta(minutes=1)
            ),
            bigquery.ArrayQueryParameter("ids", "STRING", sorted(wanted)),
        ]
    )
    # The environment's location: in a single region, job calls without it answer 404.
    client = make_bigquery_client(target.project, target.bigquery_endpoint, environment.region)
    deadline = time.monotonic() + timeout
    try:
        while True:
            [row] = list(client.query_and_wait(sql, job_config=config))
            counts = StoredCounts(int(row["ingested"]), int(row["dead_lettered"]))
            missing = len(wanted) - counts.ingested - counts.dead_lettered
            if missing <= 0:
                return counts
            if time.monotonic() > deadline:
                raise PublishError(
                    f"after {timeout:g} s, {missing} of {len(wanted)} events to topic {topic!r} "
                    "are in neither the ingest nor the dead-letter table"
                )
            time.sleep(0.5)
    finally:
        client.close()  # type: ignore[no-untyped-call]


class PubsubPublisher:
    """Publishes through Pub/Sub: the emulator at `host`, or GCP when `host` is None.

    Futures resolve to the message id as the ingest function sees it (with the local push
    bridge's `message_id_prefix`).
    """

    def __init__(self, project: str, host: str | None, *, message_id_prefix: str = "") -> None:
        self._project = project
        self._client = make_publisher(host)
        self._prefix = message_id_prefix

    def publish(
        self, topic: str, data: bytes, attributes: dict[str, str] | None = None
    ) -> Future[str]:
        path = self._client.topic_path(self._project, topic)
        published: Future[str] = self._client.publish(path, data, **(attributes or {}))
        if not self._prefix:
            return published
        seen: Future[str] = Future()

        def resolve(done: Future[str]) -> None:
            error = done.exception()
            if error is not None:
                seen.set_exception(error)
            else:
                seen.set_result(f"{self._prefix}{done.result()}")

        published.add_done_callback(resolve)
        return seen

    def close(self) -> None:
        self._client.stop()
        self._client.transport.close()


class DirectPublisher:
    """Posts binary-mode CloudEvents straight to the ingest function, like Eventarc would.

    Message ids are random UUIDs (Pub/Sub would assign them). Each post is retried on 5xx and
    connection errors with backoff, up to `DIRECT_ATTEMPTS` times: the function raises on
    transient BigQuery errors precisely to get a redelivery.
    """

    def __init__(self, function_url: str, project: str, *, concurrency: int = 16) -> None:
        import httpx

        self._url = function_url.rstrip("/")
        self._project = project
        self._client = httpx.Client(timeout=60.0, limits=httpx.Limits(max_connections=concurrency))
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="publish")

    def publish(
        self, topic: str, data: bytes, attributes: dict[str, str] | None = None
    ) -> Future[str]:
        return self.publish_message(topic, make_pubsub_message(data, attributes))

    def publish_message(self, topic: str, message: dict[str, Any]) -> Future[str]:
        """Post a prepared Pub/Sub message (see `make_pubsub_message`), retrying like Pub/Sub."""
        return self._pool.submit(self._post, topic, message)

    def post_message(self, topic: str, message: dict[str, Any]) -> httpx.Response:
        """Post one prepared Pub/Sub message (see `make_pubsub_message`) once."""
        headers, body = make_cloudevent(self._project, topic, message)
        return self._client.post(self._url, headers=headers, content=body)

    def _post(self, topic: str, message: dict[str, Any]) -> str:
        import httpx

        problem = ""
        for attempt in range(DIRECT_ATTEMPTS):
            if attempt:
                time.sleep(min(0.2 * 2**attempt, 5.0))
            try:
                response = self.post_message(topic, message)
            except httpx.TransportError as err:
                problem = f"{type(err).__name__}: {err}"
                continue
            if response.status_code < 300:
                return str(message["messageId"])
            problem = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code < 500:
                break  # the function refused the event itself: retrying will not help
        raise PublishError(f"message {message['messageId']} to {self._url}: {problem}")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()


def make_pubsub_message(
    data: bytes,
    attributes: dict[str, str] | None = None,
    *,
    message_id: str | None = None,
    encoded_data: str | None = None,
) -> dict[str, Any]:
    """A Pub/Sub message as the push and Eventarc formats carry it (data in base64)."""
    import base64

    return {
        "data": encoded_data if encoded_data is not None else base64.b64encode(data).decode(),
        "attributes": attributes or {},
        "messageId": message_id or uuid.uuid4().hex,
        "publishTime": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
    }


def make_cloudevent(
    project: str, topic: str, message: dict[str, Any]
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a binary-mode `messagePublished` CloudEvent carrying `message`."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(message["messageId"]),
        "ce-source": f"//pubsub.googleapis.com/projects/{project}/topics/{topic}",
        "ce-type": CLOUDEVENT_TYPE,
        "ce-time": str(message["publishTime"]),
        "content-type": "application/json",
    }
    subscription = f"projects/{project}/subscriptions/{get_ingest_subscription(topic)}"
    body = json.dumps({"message": message, "subscription": subscription}).encode()
    return headers, body
