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
from tests.domains.projects import A_DEV_PROJECT, write_domains


def edit(path: Path, change: Any) -> Path:
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def specs(tmp_path: Path) -> tuple[Path, Path]:
    a, b = write_domains(tmp_path)
    return a / "dayflow.yaml", b / "dayflow.yaml"


def test_both_domain_specs_load(specs: tuple[Path, Path]) -> None:
    a, b = (load_spec(p) for p in specs)
    assert a.team_group == "team-a@acme.example"
    assert list(a.exposes) == ["mart.daily_totals"]
    assert a.exposes["mart.daily_totals"].columns["sales"].type == "INT64"
    assert get_consumed_ref(b, "a.mart.daily_totals", "dev") == (
        A_DEV_PROJECT,
        "dev_mart",
        "daily_totals",
    )
    local = b.environments["local"].dataset_prefix
    assert get_consumed_ref(b, "a.mart.daily_totals", "local") == (
        "local",
        f"{local}a__mart",
        "daily_totals",
    )


def test_exposing_a_table_no_job_writes_is_refused(specs: tuple[Path, Path]) -> None:
    path = edit(
        specs[0], lambda r: r["exposes"].update({"mart.weekly": r["exposes"]["mart.daily_totals"]})
    )
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.lines == [
        f"{path}: exposes.mart.weekly: no bigquery_sql job writes mart.weekly "
        "(expected the destination of a bigquery_sql job: mart.daily_totals)"
    ]


def test_an_exposed_table_declares_its_partition_column(specs: tuple[Path, Path]) -> None:
    path = edit(specs[0], lambda r: r["exposes"]["mart.daily_totals"]["columns"].pop("sales_date"))
    with pytest.raises(
        SpecError,
        match=re.escape(
            "exposes.mart.daily_totals.columns: partitioning or clustering column 'sales_date' is "
            "not declared"
        ),
    ):
        load_spec(path)


def test_an_unknown_column_type_is_refused(specs: tuple[Path, Path]) -> None:
    path = edit(
        specs[0],
        lambda r: r["exposes"]["mart.daily_totals"]["columns"]["total"].update(type="MONEY"),
    )
    with pytest.raises(
        SpecError,
        match=re.escape(
            "exposes.mart.daily_totals.columns.total.type: unknown BigQuery type 'MONEY'"
        ),
    ):
        load_spec(path)


def test_sql_naming_an_undeclared_consumed_table_is_refused(specs: tuple[Path, Path]) -> None:
    path = edit(
        specs[1],
        lambda r: r["consumes"].update({"a.mart.other": r["consumes"].pop("a.mart.daily_totals")}),
    )
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.lines == [
        f"{path}: pipelines.finance_daily.jobs.revenue.sql: names "
        "{{ consumes:a.mart.daily_totals }} which is not declared "
        "(expected one of consumes: a.mart.other)"
    ]


def test_consuming_needs_the_producer_location_of_every_environment(
    specs: tuple[Path, Path],
) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["environments"]["prod"] = {"gcp_project": "acme-b-prod"}
        raw["consumes"]["a.mart.daily_totals"]["environments"].pop("dev")

    path = edit(specs[1], change)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.lines == [
        f"{path}: consumes.a.mart.daily_totals.environments: no location for dev, prod "
        "(expected the producer's gcp_project and dataset_prefix in each environment)"
    ]


def test_a_domain_cannot_consume_itself(specs: tuple[Path, Path]) -> None:
    path = edit(specs[1], lambda r: r.update(name="a"))
    with pytest.raises(
        SpecError,
        match=re.escape("consumes.a.mart.daily_totals: domain 'a' is this spec's own name"),
    ):
        load_spec(path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("team_group", "team-b", "team_group: String should match pattern"),
        ("consumes", {"mart.daily_totals": {}}, "consumes.mart.daily_totals.[key]: String should"),
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


def test_a_transform_reading_an_undeclared_consumed_table_is_refused(
    specs: tuple[Path, Path],
) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["pipelines"]["finance_daily"]["jobs"]["forecast"] = {
            "kind": "dbt",
            "project_dir": "transform/dbt",
            "reads": ["a.mart.weekly_totals"],
        }

    path = edit(specs[1], change)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.lines == [
        f"{path}: pipelines.finance_daily.jobs.forecast.reads: unknown consumed table "
        "'a.mart.weekly_totals' (expected one of consumes: a.mart.daily_totals)"
    ]
