"""The spec's many-domain fields refuse what cannot work, each with one line naming the value."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayflow.errors import SpecError
from dayflow.spec import load_spec
from dayflow.spec_domains import get_consumed_ref, get_owner_label
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
        f"{path}: exposes.mart.weekly: no bigquery_sql job writes mart.weekly "
        "(expected the destination of a bigquery_sql job: mart.daily_events)"
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
