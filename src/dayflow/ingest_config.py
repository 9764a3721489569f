"""The ingest function's configuration, generated from the spec.

The function (the package's `dayflow/functions/ingest_events`, which cannot import dayflow)
reads two things:

- a topic config file, JSON, bundled into its source archive at deploy time as
  `ingest_config.json` beside `main.py` (locally it is written to the state directory and named by
  `INGEST_CONFIG_FILE`). Format, version 1::

      {"version": 1,
       "max_event_time_ahead_seconds": 86400,
       "topics": {"orders": {"dataset": "dev_ingest", "table": "events_orders",
                             "schema_version": 1, "key": ["order_id"],
                             "event_time": "updated_at", "max_payload_bytes": 1000000,
                             "fields": {"order_id": {"type": "string", "required": true,
                                                     "enum": null}, ...}}}}

  Dataset names are physical (the environment's `dataset_prefix` applied).
- environment variables (`get_ingest_env`): `INGEST_PROJECT`, `INGEST_DEAD_LETTER_TABLE`, and
  locally `INGEST_BIGQUERY_ENDPOINT` and `INGEST_CONFIG_FILE`.

Why a file and not an env var: Cloud Functions caps all env vars at 32 KB together, which a few
dozen topic schemas would exceed; a file also rides in the content-hashed source archive, so a
schema change redeploys the function.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from dayflow.spec import Spec
from dayflow.tables import DEAD_LETTER, get_ingest_table

CONFIG_VERSION = 1
CONFIG_FILE_NAME = "ingest_config.json"
# The function dead-letters events whose event time is further ahead of their ingestion than
# this (a producer clock or timezone bug). The semantic layer relies on it: every event of a
# partition was ingested after the partition's start minus this (see semantic.INGEST_LOOKBACK).
MAX_EVENT_TIME_AHEAD = timedelta(days=1)


def build_ingest_config(spec: Spec, env: str) -> dict[str, Any]:
    """The topic config file's content for environment `env` (see the module docstring)."""
    environment = spec.get_environment(env)
    topics = {}
    for name, topic in spec.topics.items():
        table = get_ingest_table(name, environment.get_dataset_id(topic.ingest_dataset))
        topics[name] = {
            "dataset": table.dataset,
            "table": table.table,
            "schema_version": topic.schema_version,
            "key": list(topic.key),
            "event_time": topic.event_time,
            "max_payload_bytes": topic.max_payload_bytes,
            "fields": {
                field_name: {"type": field.type, "required": field.required, "enum": field.enum}
                for field_name, field in topic.fields.items()
            },
        }
    return {
        "version": CONFIG_VERSION,
        "max_event_time_ahead_seconds": int(MAX_EVENT_TIME_AHEAD.total_seconds()),
        "topics": topics,
    }


def write_ingest_config(spec: Spec, env: str, path: Path) -> Path:
    """Write the topic config file for `env` to `path` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(build_ingest_config(spec, env), indent=2, sort_keys=True) + "\n")
    return path


def get_dead_letter_table_id(spec: Spec, env: str) -> str:
    """`dataset.table` of the dead-letter table in `env`."""
    dataset = spec.get_environment(env).get_dataset_id(DEAD_LETTER.dataset)
    return f"{dataset}.{DEAD_LETTER.table}"


def get_ingest_env(
    spec: Spec,
    env: str,
    *,
    config_file: Path | None = None,
    bigquery_endpoint: str | None = None,
) -> dict[str, str]:
    """The function's environment variables in `env`.

    Args:
        spec: The loaded spec.
        env: The environment name (`local`, `dev`, `prod`).
        config_file: Where the topic config file is, when not bundled beside `main.py`.
        bigquery_endpoint: A BigQuery emulator's base URL (local only).
    """
    variables = {
        "INGEST_PROJECT": spec.get_environment(env).gcp_project,
        "INGEST_DEAD_LETTER_TABLE": get_dead_letter_table_id(spec, env),
    }
    if config_file is not None:
        variables["INGEST_CONFIG_FILE"] = str(config_file)
    if bigquery_endpoint is not None:
        variables["INGEST_BIGQUERY_ENDPOINT"] = bigquery_endpoint
    return variables
