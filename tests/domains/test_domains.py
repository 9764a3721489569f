"""Two domains on one platform: `a` exposes a table, `b` consumes it.

Both run a partition locally (b reading its local copy of a's table), and both stacks build
under Pulumi mocks with b's job-runner granted read on exactly a's exposed table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from dayflow.infra.policy import find_violations
from dayflow.local.stack import create_warehouse
from dayflow.seed import seed_sources
from dayflow.spec import Spec, load_spec
from dayflow.warehouse import make_bigquery_client
from tests.conftest import Server
from tests.domains.projects import A_DEV_PROJECT, B_DEV_PROJECT, write_domains
from tests.infra.argument_check import check_resource
from tests.infra.pulumi_harness import Deployment, T, run_program


@contextmanager
def running(spec_path: Path, bigquery_endpoint: str) -> Iterator[tuple[Spec, httpx.Client]]:
    """A domain's local stack in the shared emulator: datasets and tables as `dayflow local up`
    creates them, its seeds loaded, its job-runner on 127.0.0.1."""
    from job_runner.core.config import JobRunnerSettings
    from job_runner.main import create_app

    spec = load_spec(spec_path)
    create_warehouse(spec, bigquery_endpoint)
    with make_bigquery_client("local", bigquery_endpoint) as client:
        seed_sources(spec, "local", client)
    settings = JobRunnerSettings(spec_path=spec_path, bigquery_endpoint=bigquery_endpoint)
    with (
        Server(create_app(settings)) as server,
        httpx.Client(base_url=server.url, timeout=120) as http,
    ):
        yield spec, http


def run(http: httpx.Client, pipeline: str, job: str, key: str) -> dict[str, Any]:
    """Run one job for one partition over HTTP; poll a 202 until the run is done."""
    response = http.post("/runs", json={"pipeline": pipeline, "job": job, "partition_key": key})
    while response.status_code == 202:
        time.sleep(0.05)
        response = http.get(f"/runs/{response.json()['run_id']}")
    body: dict[str, Any] = response.json()
    body["status_code"] = response.status_code
    return body


def read_rows(endpoint: str, table_id: str, where: str) -> list[dict[str, Any]]:
    with make_bigquery_client("local", endpoint) as client:
        rows = client.query_and_wait(f"SELECT * FROM `{table_id}` WHERE {where} ORDER BY 1")
        return [dict(r) for r in rows]


@pytest.mark.emulator
def test_b_runs_a_partition_on_its_local_copy_of_the_table_a_exposes(
    tmp_path: Path, bigquery_endpoint: str
) -> None:
    a_dir, b_dir = write_domains(tmp_path)
    with running(a_dir / "dayflow.yaml", bigquery_endpoint) as (a, http):
        outcome = run(http, "sales_daily", "daily_totals", "2024-01-02")
        assert outcome["status"] == "succeeded", outcome
        a_table = f"local.{a.environments['local'].dataset_prefix}mart.daily_totals"
        a_rows = read_rows(bigquery_endpoint, a_table, "sales_date = '2024-01-02'")
        assert a_rows == [{"sales_date": a_rows[0]["sales_date"], "total": 42.5, "sales": 2}]
        # The exposed table was created from its contract (as infra does), with its catalog.
        with make_bigquery_client("local", bigquery_endpoint) as client:
            table = client.get_table(a_table)
        assert table.labels == {"owner": "team-a_acme_example"}
        assert table.description.startswith("Sales per day")
        assert [(f.name, f.field_type, f.mode, f.description) for f in table.schema] == [
            ("sales_date", "DATE", "REQUIRED", "day of the sales"),
            ("total", "FLOAT", "REQUIRED", "sum of amounts, EUR"),
            ("sales", "INTEGER", "NULLABLE", "number of sales"),
        ]

    # b's sample of a's data product: a's real output, as b's seed file (the columns b copies).
    seed = b_dir / "seed" / "a_daily_totals.jsonl"
    seed.write_text(
        "".join(
            json.dumps({"sales_date": str(r["sales_date"]), "total": r["total"]}) + "\n"
            for r in a_rows
        )
    )
    with running(b_dir / "dayflow.yaml", bigquery_endpoint) as (b, http):
        copy = f"local.{b.environments['local'].dataset_prefix}a__mart.daily_totals"
        assert len(read_rows(bigquery_endpoint, copy, "TRUE")) == 1
        for _ in range(2):  # twice: one run's rows
            outcome = run(http, "finance_daily", "revenue", "2024-01-02")
            assert outcome["status"] == "succeeded", outcome
        b_table = f"local.{b.environments['local'].dataset_prefix}finance.revenue"
        rows = read_rows(bigquery_endpoint, b_table, "revenue_date = '2024-01-02'")
        assert [r["net_revenue"] for r in rows] == [34.0]


@pytest.mark.emulator
def test_a_job_whose_select_breaks_its_exposed_contract_writes_nothing(
    tmp_path: Path, bigquery_endpoint: str
) -> None:
    a_dir, _ = write_domains(tmp_path)
    sql = a_dir / "sql" / "daily_totals.sql"
    sql.write_text(sql.read_text().replace(", COUNT(*) AS sales", ", 1.5 AS avg_sale"))
    with running(a_dir / "dayflow.yaml", bigquery_endpoint) as (a, http):
        outcome = run(http, "sales_daily", "daily_totals", "2024-01-02")
        # A permanent failure (422): rerunning the same SQL cannot succeed.
        assert outcome["status_code"] == 422, outcome
        assert outcome["detail"].startswith(
            "exposed table mart.daily_totals: the job's SELECT has no column 'sales'"
        )
        a_table = f"local.{a.environments['local'].dataset_prefix}mart.daily_totals"
        assert read_rows(bigquery_endpoint, a_table, "sales_date = '2024-01-02'") == []


def _in_project(deployment: Deployment, project: str) -> list[tuple[str, str]]:
    return [(r.type, r.name) for r in deployment if r.state.get("project") == project]


def test_both_stacks_build_and_b_reads_exactly_the_table_a_exposes(tmp_path: Path) -> None:
    a_dir, b_dir = write_domains(tmp_path)
    a = run_program("dev", project_dir=a_dir)
    b = run_program("dev", project_dir=b_dir)
    for deployment in (a, b):
        assert [
            str(v) for v in find_violations((r.type, r.name, r.state) for r in deployment)
        ] == []
        problems = [
            (x.name, check_resource(x.resource_class, x.props))
            for x in deployment.arguments
            if x.resource_class.__module__.startswith("pulumi_gcp.")
        ]
        assert [p for p in problems if p[1]] == []

    # b's stack touches a's project with one resource: read on a's exposed table, for b's
    # job-runner account, table-level.
    assert _in_project(b, A_DEV_PROJECT) == [
        (T.TABLE_IAM, "consumes-a-mart-daily_totals-job-runner")
    ]
    (grant,) = b.of_type(T.TABLE_IAM)
    job_runner = b.one(T.ACCOUNT, "sa-job-runner") if b.by_state(T.ACCOUNT) else None
    assert job_runner is not None
    assert dict(grant.state) == {
        "project": A_DEV_PROJECT,
        "datasetId": "dev_mart",
        "tableId": "daily_totals",
        "role": "roles/bigquery.dataViewer",
        "member": job_runner.state["member"],
    }
    assert a.of_type(T.TABLE_IAM) == []  # a's stack knows no consumer
    assert {r.state["project"] for r in b if "project" in r.state} == {
        A_DEV_PROJECT,
        B_DEV_PROJECT,
    }
