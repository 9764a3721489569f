"""`dayflow seed`: declared source tables, their seed files, and loading them (dayflow.seed)."""

from __future__ import annotations

import json
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayflow.cli import main
from dayflow.errors import SpecError
from dayflow.seed import seed_sources
from dayflow.spec import Spec, load_spec
from dayflow.warehouse import make_bigquery_client
from tests.conftest import PROJECT


def write_source_spec(tmp_path: Path, tables: dict[str, Any], dataset: str = "raw") -> Path:
    spec = {
        "version": 1,
        "name": "seedtest",
        "environments": {"local": {"gcp_project": "local"}, "dev": {"gcp_project": "acme-dev"}},
        "sources": {dataset: {"description": "test data", "tables": tables}},
    }
    path = tmp_path / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


COLUMNS = {"order_id": "STRING", "amount": "NUMERIC", "qty": "INT64", "order_ts": "TIMESTAMP"}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {"columns": {"amount": "NUMBER"}},
            "sources.raw.tables.orders.columns.amount: unknown BigQuery type 'NUMBER' "
            "(expected one of: STRING, INT64",
        ),
        (
            {"columns": {"order-id": "STRING"}},
            "sources.raw.tables.orders.columns.order-id.[key]: name 'order-id' is not a valid "
            "BigQuery name",
        ),
        (
            {"columns": COLUMNS, "seed": "missing.csv"},
            "sources.raw.tables.orders.seed: file 'missing.csv' not found",
        ),
        (
            {"columns": COLUMNS, "seed": "orders.parquet"},
            "sources.raw.tables.orders.seed: seed file 'orders.parquet' has an unknown format "
            "(expected a .csv or .jsonl file)",
        ),
        ({"columns": {}}, "sources.raw.tables.orders.columns: Dictionary should have at least 1"),
    ],
    ids=["bad-type", "bad-column-name", "missing-seed", "seed-format", "no-columns"],
)
def test_a_bad_source_table_is_one_line_naming_its_field(
    tmp_path: Path, table: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SpecError) as raised:
        load_spec(write_source_spec(tmp_path, {"orders": table}))
    assert len(raised.value.lines) == 1, raised.value.lines
    assert expected in raised.value.lines[0], raised.value.lines[0]


def test_the_tests_project_declares_its_raw_tables_with_seed_files() -> None:
    raw = load_spec(PROJECT / "dayflow.yaml").sources["raw"]
    assert raw.tables["orders"].columns["order_ts"] == "TIMESTAMP"
    assert raw.tables["customers"].seed == "seed/customers.jsonl"


def seed_spec(tmp_path: Path) -> tuple[Spec, str]:
    """A source with one CSV-seeded and one JSONL-seeded table, in a dataset of its own."""
    (tmp_path / "orders.csv").write_text(
        "order_id,amount,qty,order_ts\n"
        'o1,12.50,2,2024-01-01T10:00:00Z\n"o,2",3,1,2024-01-02T11:30:00Z\n'
    )
    (tmp_path / "customers.jsonl").write_text(
        '{"customer_id": "c1", "active": true, "born": "1990-05-01"}\n'
        '{"customer_id": "c2", "active": false, "born": null}\n\n'
    )
    dataset = f"raw_{uuid.uuid4().hex[:8]}"
    tables = {
        "orders": {"columns": COLUMNS, "seed": "orders.csv"},
        "customers": {
            "columns": {"customer_id": "STRING", "active": "BOOL", "born": "DATE"},
            "seed": "customers.jsonl",
        },
        "unseeded": {"columns": {"x": "STRING"}},
    }
    return load_spec(write_source_spec(tmp_path, tables, dataset)), dataset


def test_seeding_loads_csv_and_jsonl_with_the_declared_schema_once(
    tmp_path: Path, bigquery_endpoint: str
) -> None:
    spec, dataset = seed_spec(tmp_path)
    with make_bigquery_client("local", bigquery_endpoint) as client:
        first = seed_sources(spec, "local", client)
        orders = client.get_table(f"local.{dataset}.orders")
        rows = sorted((r["order_id"], r["amount"], r["qty"]) for r in client.list_rows(orders))
        # Twice: WRITE_TRUNCATE replaces the table, leaving one copy of the file's rows.
        second = seed_sources(spec, "local", client)
        again = sorted((r["order_id"], r["amount"], r["qty"]) for r in client.list_rows(orders))
        customers = client.get_table(f"local.{dataset}.customers")
    assert first == second == {f"{dataset}.orders": 2, f"{dataset}.customers": 2}
    assert [(f.name, f.field_type) for f in orders.schema] == [
        ("order_id", "STRING"),
        ("amount", "NUMERIC"),
        ("qty", "INTEGER"),
        ("order_ts", "TIMESTAMP"),
    ]
    assert [(f.name, f.field_type) for f in customers.schema] == [
        ("customer_id", "STRING"),
        ("active", "BOOLEAN"),
        ("born", "DATE"),
    ]
    assert rows == again == [("o,2", Decimal(3), 1), ("o1", Decimal("12.5"), 2)]


def test_seeding_only_named_tables_and_refusing_unknown_ones(
    tmp_path: Path,
    bigquery_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec, dataset = seed_spec(tmp_path)
    from dayflow.settings import get_settings

    state = tmp_path / "state"
    state.mkdir()
    (state / "stack.json").write_text(json.dumps({"bigquery_endpoint": bigquery_endpoint}))
    monkeypatch.setenv("DAYFLOW_STATE_DIR", str(state))
    get_settings.cache_clear()
    try:
        code, _ = run_cli(monkeypatch, capsys, "--table", f"{dataset}.unseeded", spec=spec)
        assert code == 2
        code, out = run_cli(monkeypatch, capsys, "--table", f"{dataset}.orders", spec=spec)
    finally:
        get_settings.cache_clear()
    assert code == 0
    assert f"seeded {dataset}.orders: 2 rows" in out
    with make_bigquery_client("local", bigquery_endpoint) as client:
        tables = [t.table_id for t in client.list_tables(f"local.{dataset}")]
    assert tables == ["orders"]


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, spec: Spec
) -> tuple[int, str]:
    argv = ["dayflow", "seed", "--spec", str(spec.root / "dayflow.yaml"), *args]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def test_seeding_dev_without_yes_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, _ = seed_spec(tmp_path)
    monkeypatch.setattr(
        sys, "argv", ["dayflow", "seed", "--env", "dev", "--spec", str(spec.root / "dayflow.yaml")]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err.splitlines()
    assert exited.value.code == 2
    assert err == ["error: seeding dev replaces its source tables (expected --yes to confirm)"]


def test_consumed_tables_are_seeded_locally_only(tmp_path: Path) -> None:
    from dayflow.errors import UserError
    from dayflow.seed import get_seeded_tables
    from dayflow.spec import load_spec
    from tests.domains.projects import CONSUMED, write_domains

    _, finance_dir = write_domains(tmp_path)
    finance = load_spec(finance_dir / "dayflow.yaml")
    local = get_seeded_tables(finance, [CONSUMED])[CONSUMED]
    prefix = finance.environments["local"].dataset_prefix
    assert (local.dataset, local.table) == (f"{prefix}sales__mart", "daily_events")
    assert local.columns == {
        "event_date": ("DATE", "REQUIRED"),
        "event_type": ("STRING", "REQUIRED"),
        "amount": ("FLOAT64", "NULLABLE"),
    }
    # In dev the table is the producer's: never loaded by the consumer.
    with pytest.raises(UserError, match=r"^--table 'sales.mart.daily_events' is not a table with"):
        get_seeded_tables(finance, [CONSUMED], "dev")
