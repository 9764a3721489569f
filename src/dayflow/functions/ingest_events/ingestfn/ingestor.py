"""One message, end to end: read the envelope, validate, store in the ingest table, or
dead-letter with the reason. One `Ingestor` per function instance, shared by all its threads."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ingestfn.batcher import GroupCommitter
from ingestfn.bigquery import MetadataTokenSource, RestInserter, RowInserter
from ingestfn.envelope import PubsubMessage, parse_event
from ingestfn.errors import (
    BAD_ENVELOPE,
    NO_DATA,
    REJECTED_BY_BIGQUERY,
    UNKNOWN_TOPIC,
    Rejection,
    WriteError,
)
from ingestfn.logs import configure_logging, logger
from ingestfn.settings import IngestConfig, Settings, TopicSchema, load_config
from ingestfn.validation import check_schema, decode_payload, parse_json

STORED = "stored"
# insertAll takes rows of up to 10 MB: keep at most this much of a dead-lettered payload (base64
# characters); the detail column says when it was cut.
MAX_DEAD_LETTER_DATA = 7_000_000

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Ingestor:
    """Ingests messages into their topics' ingest tables; thread-safe."""

    def __init__(
        self,
        settings: Settings,
        config: IngestConfig,
        inserter: RowInserter,
        *,
        clock: Clock = _utcnow,
    ) -> None:
        self._config = config
        self._clock = clock
        self._inserter = inserter
        self._ingest = {
            name: GroupCommitter(
                inserter, topic.dataset, topic.table, max_rows=settings.max_batch_rows
            )
            for name, topic in config.topics.items()
        }
        self._dead_letter = GroupCommitter(
            inserter,
            settings.dead_letter_dataset,
            settings.dead_letter_table,
            max_rows=settings.max_batch_rows,
        )

    @classmethod
    def from_env(cls) -> Ingestor:
        """The instance's ingestor: settings from the environment, config from its file."""
        settings = Settings.from_env()
        configure_logging(settings.log_format)
        config = load_config(settings.config_file)
        inserter = RestInserter(
            settings.project,
            endpoint=settings.bigquery_endpoint,
            # An emulator takes no credentials; in GCP the metadata server has the token.
            token_source=None if settings.bigquery_endpoint else MetadataTokenSource(),
        )
        return cls(settings, config, inserter)

    def close(self) -> None:
        """Close the BigQuery connections."""
        self._inserter.close()

    def ingest(self, attributes: Mapping[str, Any], data: Any) -> str:
        """Handle one CloudEvent. Returns `stored` or the dead-letter reason.

        Raises `WriteError` when nothing could be stored (the message must be redelivered).
        """
        now = self._clock()
        message = parse_event(attributes, data, now=now)
        try:
            topic, text = self._validate(message, now)
        except Rejection as invalid:
            return self._store_dead_letter(message, invalid, now)
        outcome = self._ingest[topic.name].insert(
            message.message_id, _ingest_row(message, topic, text, now)
        )
        if outcome is not None:
            refused = Rejection(REJECTED_BY_BIGQUERY, outcome.message)
            return self._store_dead_letter(message, refused, now)
        return STORED

    def _validate(self, message: PubsubMessage, now: datetime) -> tuple[TopicSchema, str]:
        if message.problem:
            raise Rejection(BAD_ENVELOPE, message.problem)
        if not message.topic:
            raise Rejection(
                UNKNOWN_TOPIC,
                "the CloudEvent source names no topic (expected //pubsub.googleapis.com/projects/"
                "PROJECT/topics/TOPIC; a push endpoint must end in /projects/PROJECT/topics/TOPIC)",
            )
        topic = self._config.topics.get(message.topic)
        if topic is None:
            raise Rejection(
                UNKNOWN_TOPIC,
                f"topic {message.topic!r} is not in the spec "
                f"(expected one of: {', '.join(sorted(self._config.topics)) or 'none'})",
            )
        if not message.data:
            # Pub/Sub accepts a message with attributes only; a topic's event lives in data.
            names = ", ".join(sorted(message.attributes))
            raise Rejection(
                NO_DATA,
                (f"message has no data, only attributes ({names})" if names else
                 "message has no data and no attributes")
                + " (expected a JSON payload in data, base64-encoded)",
            )  # fmt: skip
        text = decode_payload(message.data, topic.max_payload_bytes)
        payload = parse_json(text)
        check_schema(payload, topic, now=now, max_ahead=self._config.max_event_time_ahead)
        return topic, text

    def _store_dead_letter(
        self, message: PubsubMessage, rejection: Rejection, now: datetime
    ) -> str:
        row = _dead_letter_row(message, rejection, now)
        outcome = self._dead_letter.insert(message.message_id, row)
        if outcome is not None:
            # Not even the dead-letter table takes it: redeliver, and after the subscription's
            # max attempts Pub/Sub moves it to the dead-letter topic.
            raise WriteError(
                f"dead-letter table refused message {message.message_id!r}: {outcome.message}",
                transient=False,
            )
        # The detail stays in the dead-letter table: it may quote the payload's values.
        logger.warning(
            "dead-lettered message %r of topic %r: %s",
            message.message_id,
            message.topic,
            rejection.reason,
            extra={"topic": message.topic or "", "reason": rejection.reason,
                   "message_id": message.message_id},
        )  # fmt: skip
        return rejection.reason


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ingest_row(
    message: PubsubMessage, topic: TopicSchema, text: str, now: datetime
) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "publish_time": _timestamp(message.publish_time),
        # JSON columns take JSON text in insertAll.
        "attributes": json.dumps(dict(message.attributes)),
        "data": text,
        "ordering_key": message.ordering_key,
        "topic": topic.name,
        "schema_version": topic.schema_version,
        "ingested_at": _timestamp(now),
    }


def _dead_letter_row(message: PubsubMessage, rejection: Rejection, now: datetime) -> dict[str, Any]:
    raw = message.data
    detail = rejection.detail
    if raw is not None and len(raw) > MAX_DEAD_LETTER_DATA:
        detail += f" [raw_data cut to its first {MAX_DEAD_LETTER_DATA} of {len(raw)} characters]"
        raw = raw[:MAX_DEAD_LETTER_DATA]
    return {
        "message_id": message.message_id or None,
        "topic": message.topic or None,
        "subscription": message.subscription,
        "publish_time": _timestamp(message.publish_time),
        "attributes": json.dumps(dict(message.attributes)),
        "raw_data": raw,
        "reason": rejection.reason,
        "detail": detail,
        "received_at": _timestamp(now),
    }
