"""Infra of a domain: the team group's dataset-level read, the exposed tables' catalog entries
(descriptions, owner label), lineage, and table-level reads of consumed tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pulumi_harness import Deployment, T, run_program

from tests.domains.projects import CONSUMED, EXPOSED_COLUMNS, PRODUCER_DEV, write_domains


@pytest.fixture(scope="module")
def domains(tmp_path_factory: pytest.TempPathFactory) -> tuple[Deployment, Deployment]:
    sales, finance = write_domains(tmp_path_factory.mktemp("domains"))
    return run_program("dev", project_dir=sales), run_program("dev", project_dir=finance)


def test_the_team_group_reads_each_own_dataset_and_nothing_else(
    domains: tuple[Deployment, Deployment],
) -> None:
    sales, _ = domains
    datasets = {r.state["datasetId"] for r in sales.of_type(T.DATASET)}
    grants = [r for r in sales if "group:sales-team@acme.example" in json.dumps(dict(r.state))]
    assert {r.type for r in grants} == {T.DATASET_IAM}
    assert sorted(r.state["datasetId"] for r in grants) == sorted(datasets)
    assert {r.state["role"] for r in grants} == {"roles/bigquery.dataViewer"}


def test_an_exposed_table_carries_its_descriptions_and_owner_label(
    domains: tuple[Deployment, Deployment],
) -> None:
    sales, _ = domains
    (table,) = sales.by_state(T.TABLE, tableId="daily_events")
    assert table.state["datasetId"] == "dev_mart"
    assert table.state["description"] == (
        "Events per day and type, final after 02:00 UTC the next day "
        "(owner: sales-team@acme.example)"
    )
    # The stack's labels, and the owner: label values allow lowercase letters, digits, `_` and
    # `-` only (https://cloud.google.com/bigquery/docs/labels-intro#requirements).
    labels = table.state["labels"]
    assert labels["owner"] == "sales-team_acme_example"
    assert {"team": "sales", "env": "dev", "dayflow-spec": "sales"}.items() <= labels.items()
    legacy = {"INT64": "INTEGER", "FLOAT64": "FLOAT"}  # as BigQuery reports them
    assert json.loads(table.state["schema"]) == [
        {
            "name": name,
            "type": legacy.get(c["type"], c["type"]),
            "mode": "REQUIRED" if c.get("required") else "NULLABLE",
            "description": c["description"],
        }
        for name, c in EXPOSED_COLUMNS.items()
    ]
    assert table.state["timePartitioning"] == {"type": "DAY", "field": "event_date"}
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
    _, finance = domains
    (grant,) = finance.of_type(T.TABLE_IAM)
    assert (grant.state["project"], grant.state["datasetId"], grant.state["tableId"]) == (
        PRODUCER_DEV,
        "dev_mart",
        "daily_events",
    )
    assert grant.state["member"] == finance.one(T.ACCOUNT, "sa-job-runner").state["member"]
    # Nothing of finance's reaches the sales project at dataset or project level.
    assert [r for r in finance.of_type(T.DATASET_IAM) if r.state["project"] == PRODUCER_DEV] == []
    assert [r for r in finance.of_type(T.PROJECT_IAM) if r.state["project"] == PRODUCER_DEV] == []


def test_a_dbt_job_reading_a_consumed_table_gets_read_on_that_table_only(tmp_path: Path) -> None:
    _, finance = write_domains(tmp_path)
    path = finance / "dayflow.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["consumes"]["sales.mart.weekly_events"] = raw["consumes"][CONSUMED]
    raw["pipelines"]["finance_daily"]["jobs"]["forecast"] = {
        "kind": "dbt",
        "project_dir": "transform/dbt",
        "writes": ["forecast"],
        "reads": [CONSUMED],
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    deployment = run_program("dev", project_dir=finance)
    grants = sorted(
        (r.state["tableId"], r.state["member"].split("@")[0])
        for r in deployment.of_type(T.TABLE_IAM)
    )
    # The job-runner's SQL may name any consumed table; dbt reads the one its job lists.
    assert grants == [
        ("daily_events", "serviceAccount:dayflow-dbt"),
        ("daily_events", "serviceAccount:dayflow-job-runner"),
        ("weekly_events", "serviceAccount:dayflow-job-runner"),
    ]
