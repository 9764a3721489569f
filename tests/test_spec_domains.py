"""The spec's many-domain fields refuse what cannot work, each with one line naming the value."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayflow.errors import SpecError
from dayflow.infra.catalog import get_owned_tables
from dayflow.spec import load_spec
from dayflow.spec_domains import get_consumed_ref, get_owner_label
from tests.conftest import read_project_spec
from tests.domains.projects import CONSUMED, EXPOSED, PRODUCER_DEV, write_domains


def edit(path: Path, change: Any) -> Path:
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def specs(tmp_path: Path) -> tuple[Path, Path]:
    sales, finance = write_domains(tmp_path)
    return sales / "dayflow.yaml", finance / "dayflow.yaml"


def test_both_domain_specs_load(specs: tuple[Path, Path]) -> None:
    sales, finance = (load_spec(p) for p in specs)
    assert sales.team_group == "sales-team@acme.example"
    assert list(sales.exposes) == [EXPOSED]
    assert sales.exposes[EXPOSED].columns["events"].type == "INT64"
    assert get_consumed_ref(finance, CONSUMED, "dev") == (PRODUCER_DEV, "dev_mart", "daily_events")
    assert get_consumed_ref(finance, CONSUMED, "prod") == ("sales-prod", "mart", "daily_events")
    local = finance.environments["local"].dataset_prefix
    assert get_consumed_ref(finance, CONSUMED, "local") == (
        "local",
        f"{local}sales__mart",
        "daily_events",
    )


def test_exposing_a_table_no_job_writes_is_refused(specs: tuple[Path, Path]) -> None:
    path = edit(specs[0], lambda r: r["exposes"].update({"mart.weekly": r["exposes"][EXPOSED]}))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.lines == [
        f"{path}: exposes.mart.weekly: no job writes mart.weekly "
        "(expected the destination of a bigquery_sql or dedup job: mart.daily_events)"
    ]


def test_an_exposed_table_declares_its_partition_column(specs: tuple[Path, Path]) -> None:
    path = edit(specs[0], lambda r: r["exposes"][EXPOSED]["columns"].pop("event_date"))
    message = (
        "exposes.mart.daily_events.columns: partitioning or clustering column 'event_date' is "
        "not declared"
    )
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(path)


def test_an_unknown_column_type_is_refused(specs: tuple[Path, Path]) -> None:
    path = edit(specs[0], lambda r: r["exposes"][EXPOSED]["columns"]["amount"].update(type="MONEY"))
    message = "exposes.mart.daily_events.columns.amount.type: unknown BigQuery type 'MONEY'"
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(path)


def test_sql_naming_an_undeclared_consumed_table_is_refused(specs: tuple[Path, Path]) -> None:
    path = edit(
        specs[1], lambda r: r["consumes"].update({"sales.mart.other": r["consumes"].pop(CONSUMED)})
    )
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.lines == [
        f"{path}: pipelines.finance_daily.jobs.daily_events.sql: names "
        "{{ consumes:sales.mart.daily_events }} which is not declared "
        "(expected one of consumes: sales.mart.other)"
    ]


def test_consuming_needs_the_producer_location_of_every_environment(
    specs: tuple[Path, Path],
) -> None:
    path = edit(specs[1], lambda r: r["consumes"][CONSUMED]["environments"].pop("dev"))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.lines == [
        f"{path}: consumes.sales.mart.daily_events.environments: no location for dev "
        "(expected the producer's gcp_project and dataset_prefix in each environment)"
    ]


def test_a_domain_cannot_consume_itself(specs: tuple[Path, Path]) -> None:
    path = edit(specs[1], lambda r: r.update(name="sales"))
    message = "consumes.sales.mart.daily_events: domain 'sales' is this spec's own name"
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(path)


def test_a_transform_reading_an_undeclared_consumed_table_is_refused(
    specs: tuple[Path, Path],
) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["pipelines"]["finance_daily"]["jobs"]["forecast"] = {
            "kind": "dbt",
            "project_dir": "transform/dbt",
            "reads": ["sales.mart.weekly_events"],
        }

    path = edit(specs[1], change)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.lines == [
        f"{path}: pipelines.finance_daily.jobs.forecast.reads: unknown consumed table "
        "'sales.mart.weekly_events' (expected one of consumes: sales.mart.daily_events)"
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("team_group", "finance-team", "team_group: String should match pattern"),
        ("consumes", {"mart.daily_events": {}}, "consumes.mart.daily_events.[key]: String should"),
    ],
)
def test_malformed_team_group_and_consumed_keys_are_refused(
    specs: tuple[Path, Path], field: str, value: object, message: str
) -> None:
    path = edit(specs[1], lambda r: r.update({field: value}))
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(path)


def test_owner_labels_keep_only_the_characters_bigquery_allows() -> None:
    # https://cloud.google.com/bigquery/docs/labels-intro#requirements
    assert get_owner_label("Sales.Team@ACME.example") == "sales_team_acme_example"
    assert len(get_owner_label("x" * 80 + "@acme.example")) == 63


SEMANTIC_ORDERS = {
    "event_date": {"type": "DATE", "required": True, "description": "day of the last change"},
    "order_id": {"type": "STRING", "required": True},
    "customer_id": {"type": "STRING"},
    "status": {"type": "STRING"},
    "amount": {"type": "FLOAT64"},
    "currency": {"type": "STRING"},
    "updated_at": {"type": "TIMESTAMP", "required": True},
    "message_id": {"type": "STRING", "required": True},
    "publish_time": {"type": "TIMESTAMP", "required": True},
}


def write_project_exposing(tmp_path: Path, columns: dict[str, Any]) -> Path:
    """The tests project (shop) exposing its semantic orders table, a dedup job's destination."""
    spec = read_project_spec()
    spec["exposes"] = {
        "semantic.orders": {
            "owner": "shop-team@acme.example",
            "description": "Latest state of each order",
            "columns": columns,
        }
    }
    path = tmp_path / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_a_dedup_jobs_semantic_table_is_exposed_with_its_catalog(tmp_path: Path) -> None:
    spec = load_spec(write_project_exposing(tmp_path, SEMANTIC_ORDERS))
    (orders,) = [
        t for t in get_owned_tables(spec) if (t.dataset, t.table) == ("semantic", "orders")
    ]
    assert orders.description == "Latest state of each order (owner: shop-team@acme.example)"
    assert orders.labels == (("owner", "shop-team_acme_example"),)
    assert orders.columns[0].description == "day of the last change"
    # The rest is the semantic table's own definition, as the dedup job writes it.
    assert orders.clustering == ("order_id",)


def test_a_dedup_contract_that_differs_from_its_topic_is_refused_at_load(tmp_path: Path) -> None:
    columns = {**SEMANTIC_ORDERS, "amount": {"type": "NUMERIC"}}
    del columns["currency"]
    path = write_project_exposing(tmp_path, columns)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    expected = (
        "(expected the columns of the semantic table of topic 'orders': event_date, order_id, "
        "customer_id, status, amount, currency, updated_at, message_id, publish_time)"
    )
    assert err.value.lines == [
        f"{path}: exposes.semantic.orders.columns: 'amount' is FLOAT64 in the semantic table, "
        f"not NUMERIC {expected}",
        f"{path}: exposes.semantic.orders.columns: undeclared column(s) 'currency' {expected}",
    ]


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            {"partition_field": "event_type"},
            "consumes.sales.mart.daily_events.partition_field: 'event_type' is not a DATE or "
            "TIMESTAMP column of the copy (expected the producer's partition column, declared "
            "in columns)",
        ),
        (
            {"partition_field": None},
            "consumes.sales.mart.daily_events.require_partition_filter: no partition_field "
            "(expected the producer's partition column)",
        ),
    ],
)
def test_a_consumed_copys_partitioning_names_a_declared_date_column(
    specs: tuple[Path, Path], change: dict[str, Any], line: str
) -> None:
    path = edit(specs[1], lambda r: r["consumes"][CONSUMED].update(change))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.lines == [f"{path}: {line}"]
