"""Fixtures of the ingest tests: a test spec with its own datasets in the session's BigQuery
emulator, the function's environment, and the function app through functions-framework."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dayflow.ingest_config import get_ingest_env, write_ingest_config
from dayflow.local.functions import ensure_ingest_tables
from dayflow.spec import load_spec
from dayflow.warehouse import make_bigquery_client
from tests.ingest.ingest_helpers import FUNCTION_DIR, FUNCTION_SOURCE, Tables, write_test_spec

# The function's own modules (`ingestfn`) are imported by some tests directly.
if str(FUNCTION_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTION_DIR))


@pytest.fixture
def tables(
    tmp_path: Path, bigquery_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tables]:
    """A fresh test spec's ingest and dead-letter tables, and the function's env pointing there."""
    spec = load_spec(write_test_spec(tmp_path))
    ensure_ingest_tables(spec, bigquery_endpoint)
    config = write_ingest_config(spec, "local", tmp_path / "ingest_config.json")
    env = get_ingest_env(spec, "local", config_file=config, bigquery_endpoint=bigquery_endpoint)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = make_bigquery_client("local", bigquery_endpoint)
    yield Tables(client, spec)
    client.close()


@pytest.fixture
def function_client(tables: Tables) -> Iterator[Any]:
    """The ingest function's Flask test client, built by functions-framework's `create_app`."""
    from functions_framework import create_app

    app = create_app("ingest_event", str(FUNCTION_SOURCE))
    yield app.test_client()
    sys.modules["main"].close_ingestor()
