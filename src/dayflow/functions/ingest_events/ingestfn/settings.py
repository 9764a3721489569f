"""Settings (environment variables) and the topic config file of the ingest function.

Environment (prefix `INGEST_`):
- `INGEST_PROJECT` (required): the GCP project of the ingest and dead-letter tables.
- `INGEST_DEAD_LETTER_TABLE`: `dataset.table` of the dead-letter table (default
  `ingest.dead_letter`).
- `INGEST_CONFIG_FILE`: the topic config, JSON (default `ingest_config.json` beside `main.py`,
  bundled into the source archive at deploy time).
- `INGEST_BIGQUERY_ENDPOINT`: base URL of a BigQuery emulator, e.g. `http://127.0.0.1:9050`.
  When set, requests carry no credentials; unset, the function calls
  `https://bigquery.googleapis.com` with the service account token of the metadata server.
- `INGEST_MAX_BATCH_ROWS`: most rows per streaming insert (default 500, BigQuery's advice).

The config file is generated from the dayflow spec by `dayflow.ingest_config.build_ingest_config`;
its format is described there. A plain dataclass rather than pydantic-settings: importing pydantic
would roughly double the cold start, which is part of every scale-up.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from ingestfn.errors import ConfigError

CONFIG_VERSION = 1
FIELD_TYPES = ("string", "integer", "number", "boolean", "timestamp", "date", "object", "array")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
_DEFAULT_CONFIG_FILE = Path(__file__).resolve().parent.parent / "ingest_config.json"


@dataclass(frozen=True, slots=True)
class FieldSchema:
    """One declared field of a topic's JSON payload."""

    type: str
    required: bool = False
    enum: tuple[str | int, ...] | None = None


@dataclass(frozen=True, slots=True)
class TopicSchema:
    """A topic: its ingest table and the schema its messages must satisfy."""

    name: str
    dataset: str
    table: str
    schema_version: int
    fields: Mapping[str, FieldSchema]
    key: tuple[str, ...]
    event_time: str
    max_payload_bytes: int


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """Every topic the function accepts, by topic id."""

    topics: Mapping[str, TopicSchema]
    # Events whose event time is further ahead of their ingestion are rejected, so that the
    # semantic layer can find every event of a partition in a bounded range of ingest partitions.
    max_event_time_ahead: timedelta


@dataclass(frozen=True, slots=True)
class Settings:
    """The function's settings, read from the environment once per instance."""

    project: str
    dead_letter_dataset: str
    dead_letter_table: str
    config_file: Path
    bigquery_endpoint: str | None = None
    max_batch_rows: int = 500
    # `dayflow local up` sets INGEST_LOG_FORMAT=text: readable lines instead of Cloud Logging JSON.
    log_format: Literal["json", "text"] = "json"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        project = environ.get("INGEST_PROJECT", "").strip()
        if not project:
            raise ConfigError("INGEST_PROJECT is not set (expected the GCP project id)")
        dead_letter = environ.get("INGEST_DEAD_LETTER_TABLE", "ingest.dead_letter")
        dataset, _, table = dead_letter.partition(".")
        if not (_IDENTIFIER.match(dataset) and _IDENTIFIER.match(table)):
            raise ConfigError(
                f"INGEST_DEAD_LETTER_TABLE {dead_letter!r} is not a table (expected dataset.table)"
            )
        raw_rows = environ.get("INGEST_MAX_BATCH_ROWS", "500")
        if not raw_rows.isdigit() or not 1 <= int(raw_rows) <= 10_000:
            raise ConfigError(
                f"INGEST_MAX_BATCH_ROWS {raw_rows!r} is not a row count (expected 1 to 10000)"
            )
        return cls(
            project=project,
            dead_letter_dataset=dataset,
            dead_letter_table=table,
            config_file=Path(environ.get("INGEST_CONFIG_FILE") or _DEFAULT_CONFIG_FILE),
            bigquery_endpoint=environ.get("INGEST_BIGQUERY_ENDPOINT") or None,
            max_batch_rows=int(raw_rows),
            log_format="text" if environ.get("INGEST_LOG_FORMAT") == "text" else "json",
        )


def load_config(path: Path) -> IngestConfig:
    """Read and check the topic config file; raise `ConfigError` naming the bad entry."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (expected the ingest topic config)") from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: not readable JSON ({err})") from err
    try:
        return parse_config(raw)
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from err


def parse_config(raw: Any) -> IngestConfig:
    """Check a decoded config file; raise KeyError, TypeError or ValueError naming the entry."""
    if not isinstance(raw, dict) or raw.get("version") != CONFIG_VERSION:
        raise ValueError(f"expected an object with version {CONFIG_VERSION}")
    topics = {name: _parse_topic(name, spec) for name, spec in raw["topics"].items()}
    ahead = raw.get("max_event_time_ahead_seconds", 86_400)
    if not isinstance(ahead, int) or ahead < 0:
        raise ValueError(f"max_event_time_ahead_seconds {ahead!r} is not a number of seconds")
    return IngestConfig(topics=topics, max_event_time_ahead=timedelta(seconds=ahead))


def _parse_topic(name: str, spec: dict[str, Any]) -> TopicSchema:
    fields = {}
    for field_name, field in spec["fields"].items():
        if not _IDENTIFIER.match(field_name):
            raise ValueError(f"topics.{name}.fields: {field_name!r} is not an identifier")
        if field["type"] not in FIELD_TYPES:
            raise ValueError(
                f"topics.{name}.fields.{field_name}.type: unknown type {field['type']!r} "
                f"(expected one of: {', '.join(FIELD_TYPES)})"
            )
        enum = field.get("enum")
        fields[field_name] = FieldSchema(
            type=field["type"],
            required=bool(field.get("required", False)),
            enum=tuple(enum) if enum is not None else None,
        )
    key = tuple(spec["key"])
    for field_name in (*key, spec["event_time"]):
        if field_name not in fields:
            raise ValueError(f"topics.{name}: key or event_time {field_name!r} is not a field")
    for ident in (spec["dataset"], spec["table"]):
        if not _IDENTIFIER.match(ident):
            raise ValueError(f"topics.{name}: {ident!r} is not a BigQuery identifier")
    return TopicSchema(
        name=name,
        dataset=spec["dataset"],
        table=spec["table"],
        schema_version=int(spec["schema_version"]),
        fields=fields,
        key=key,
        event_time=spec["event_time"],
        max_payload_bytes=int(spec["max_payload_bytes"]),
    )
