"""Infra of a domain: the team group's dataset-level read, the exposed tables' catalog entries
(descriptions, owner label), lineage, and table-level reads of consumed tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pulumi_harness import Deployment, T, run_program

from tests.domains.projects import A_DEV_PROJECT, EXPOSED_COLUMNS, write_domains


@pytest.fixture(scope="module")
def domains(tmp_path_factory: pytest.TempPathFactory) -> tuple[Deployment, Deployment]:
    a, b = write_domains(tmp_path_factory.mktemp("domains"))
    return run_program("dev", project_dir=a), run_program("dev", project_dir=b)


def test_the_team_group_reads_each_own_dataset_and_nothing_else(
    domains: tuple[Deployment, Deployment],
) -> None:
    a, _ = domains
    datasets = {r.state["datasetId"] for r in a.of_type(T.DATASET)}
    grants = [r for r in a if "group:team-a@acme.example" in json.dumps(dict(r.state))]
    assert {r.type for r in grants} == {T.DATASET_IAM}
    assert sorted(r.state["datasetId"] for r in grants) == sorted(datasets)
    assert {r.state["role"] for r in grants} == {"roles/bigquery.dataViewer"}
    assert all("group:" not in str(r.state.get("member")) for r in a.of_type(T.PROJECT_IAM))


def test_an_exposed_table_carries_its_descriptions_and_owner_label(
    domains: tuple[Deployment, Deployment],
) -> None:
    a, _ = domains
    (table,) = a.by_state(T.TABLE, tableId="daily_totals")
    assert table.state["datasetId"] == "dev_mart"
    assert table.state["description"] == (
        "Sales per day, final after 03:00 UTC the next day (owner: team-a@acme.example)"
    )
    # Label values: lowercase letters, digits, `_` and `-` only
    # (https://cloud.google.com/bigquery/docs/labels-intro#requirements).
    assert table.state["labels"]["owner"] == "team-a_acme_example"
    assert json.loads(table.state["schema"]) == [
        {
            "name": "sales_date",
            "type": "DATE",
            "mode": "REQUIRED",
            "description": "day of the sales",
        },
        {
            "name": "total",
            "type": "FLOAT",
            "mode": "REQUIRED",
            "description": "sum of amounts, EUR",
        },
        {"name": "sales", "type": "INTEGER", "mode": "NULLABLE", "description": "number of sales"},
    ]
    assert list(EXPOSED_COLUMNS) == ["sales_date", "total", "sales"]
    assert table.state["timePartitioning"] == {"type": "DAY", "field": "sales_date"}
    assert table.state["requirePartitionFilter"] is True


def test_data_lineage_is_enabled_before_the_warehouse(
    domains: tuple[Deployment, Deployment],
) -> None:
    # BigQuery reports lineage to Dataplex by itself once the API is enabled in the project
    # (https://cloud.google.com/dataplex/docs/use-lineage).
    for deployment in domains:
        (api,) = deployment.by_state(T.API, service="datalineage.googleapis.com")
        for table in deployment.of_type(T.TABLE):
            assert api.urn in deployment.get_all_dependencies(table)


def test_consumed_tables_are_granted_table_by_table_in_the_producers_project(
    domains: tuple[Deployment, Deployment],
) -> None:
    _, b = domains
    (grant,) = b.of_type(T.TABLE_IAM)
    assert (grant.state["project"], grant.state["datasetId"], grant.state["tableId"]) == (
        A_DEV_PROJECT,
        "dev_mart",
        "daily_totals",
    )
    assert grant.state["member"] == b.one(T.ACCOUNT, "sa-job-runner").state["member"]
    # Nothing of b's reaches a's project at dataset or project level.
    assert [r.name for r in b.of_type(T.DATASET_IAM) if r.state["project"] == A_DEV_PROJECT] == []


def test_an_unconsumed_producer_needs_no_table_grants(tmp_path: Path) -> None:
    a, _ = write_domains(tmp_path)
    assert run_program("dev", project_dir=a).of_type(T.TABLE_IAM) == []


def test_a_dbt_job_reading_a_consumed_table_gets_read_on_that_table_only(tmp_path: Path) -> None:
    _, b = write_domains(tmp_path)
    path = b / "dayflow.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["consumes"]["a.mart.weekly_totals"] = raw["consumes"]["a.mart.daily_totals"]
    raw["pipelines"]["finance_daily"]["jobs"]["forecast"] = {
        "kind": "dbt",
        "project_dir": "transform/dbt",
        "writes": ["forecast"],
        "reads": ["a.mart.daily_totals"],
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    deployment = run_program("dev", project_dir=b)
    grants = sorted(
        (r.state["tableId"], r.state["member"].split("@")[0])
        for r in deployment.of_type(T.TABLE_IAM)
    )
    # The job-runner's SQL may name any consumed table; dbt reads the one its job lists.
    assert grants == [
        ("daily_totals", "serviceAccount:dayflow-dbt"),
        ("daily_totals", "serviceAccount:dayflow-job-runner"),
        ("weekly_totals", "serviceAccount:dayflow-job-runner"),
    ]
