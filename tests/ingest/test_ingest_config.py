"""The function's config generated from the spec (`dayflow.ingest_config`) is what the function
reads (`ingestfn.settings`)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from dayflow.ingest_config import get_ingest_env, write_ingest_config
from dayflow.spec import load_spec
from ingestfn.errors import ConfigError
from ingestfn.settings import FieldSchema, Settings, load_config
from tests.conftest import PROJECT


def test_generated_config_is_read_by_the_function(tmp_path: Path) -> None:
    spec = load_spec(PROJECT / "dayflow.yaml")

    config = load_config(write_ingest_config(spec, "dev", tmp_path / "ingest_config.json"))

    orders = config.topics["orders"]
    assert (orders.dataset, orders.table, orders.key, orders.event_time) == (
        "dev_ingest", "events_orders", ("order_id",), "updated_at",
    )  # fmt: skip
    assert orders.fields["status"] == FieldSchema(
        "string", required=True, enum=("placed", "paid", "shipped", "cancelled")
    )
    assert config.max_event_time_ahead == timedelta(days=1)
    assert set(config.topics) == {"orders", "customers"}


def test_function_env_names_project_tables_and_local_endpoint(tmp_path: Path) -> None:
    spec = load_spec(PROJECT / "dayflow.yaml")
    config_file = tmp_path / "ingest_config.json"

    env = get_ingest_env(spec, "local", config_file=config_file, bigquery_endpoint="http://e")
    settings = Settings.from_env(env)

    assert get_ingest_env(spec, "prod") == {
        "INGEST_PROJECT": "acme-shop-prod",
        "INGEST_DEAD_LETTER_TABLE": "ingest.dead_letter",
    }
    assert settings == Settings(
        project="local",
        dead_letter_dataset="ingest",
        dead_letter_table="dead_letter",
        config_file=config_file,
        bigquery_endpoint="http://e",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "INGEST_PROJECT is not set (expected the GCP project id)"),
        (
            {"INGEST_PROJECT": "p", "INGEST_DEAD_LETTER_TABLE": "dead_letter"},
            "INGEST_DEAD_LETTER_TABLE 'dead_letter' is not a table (expected dataset.table)",
        ),
        (
            {"INGEST_PROJECT": "p", "INGEST_MAX_BATCH_ROWS": "0"},
            "INGEST_MAX_BATCH_ROWS '0' is not a row count (expected 1 to 10000)",
        ),
    ],
)
def test_bad_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not readable JSON"),
        ('{"version": 2}', "expected an object with version 1"),
        (
            '{"version": 1, "topics": {"t": {"fields": {"a": {"type": "uuid"}}}}}',
            "topics.t.fields.a.type: unknown type 'uuid' (expected one of: string, integer",
        ),
    ],
)
def test_bad_config_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "ingest_config.json"
    path.write_text(content)

    with pytest.raises(ConfigError, match=re.escape(f"{path}: ") + ".*" + re.escape(message)):
        load_config(path)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.json")


def test_function_module_imports_only_the_standard_library_beyond_the_framework() -> None:
    import subprocess
    import sys

    from tests.ingest.ingest_helpers import FUNCTION_DIR

    code = (
        "import sys, functions_framework; before = set(sys.modules); import main; "
        "added = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(added - set(sys.stdlib_module_names)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=FUNCTION_DIR, capture_output=True, text=True, check=True
    )
    # No google-cloud-bigquery (about 0.9 s of imports) at cold start: main, its own package and
    # python-json-logger (its log lines' JSON, about 2 ms).
    assert result.stdout.strip() == "['ingestfn', 'main', 'pythonjsonlogger']"
