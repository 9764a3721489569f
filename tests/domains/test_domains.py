"""Two domains on one platform, scaffolded by `dayflow init`: `sales` exposes a table,
`finance` consumes it.

Both run a partition locally (finance reading its local copy of the sales table), and both
stacks build under Pulumi mocks with finance's job-runner granted read on exactly the table
sales exposes, and on nothing else of sales.
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
from google.api_core.exceptions import BadRequest

from dayflow.infra.policy import find_violations
from dayflow.local.stack import create_warehouse
from dayflow.seed import seed_sources
from dayflow.spec import Spec, load_spec
from dayflow.warehouse import make_bigquery_client
from tests.conftest import Server
from tests.domains.projects import PRODUCER_DEV, write_consumer_seed, write_domains
from tests.infra.argument_check import check_resource
from tests.infra.pulumi_harness import Deployment, T, run_program

DAY = "2024-01-02"


@contextmanager
def running(spec_path: Path, bigquery_endpoint: str) -> Iterator[tuple[Spec, httpx.Client]]:
    """A domain's local stack in the shared emulator: datasets and tables as `dayflow local up`
    creates them, its seeds loaded (`dayflow seed`), its job-runner on 127.0.0.1."""
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


def run(http: httpx.Client, pipeline: str, key: str) -> dict[str, Any]:
    """Run the pipeline's one job for one partition over HTTP; poll a 202 until it is done."""
    body = {"pipeline": pipeline, "job": "daily_events", "partition_key": key}
    response = http.post("/runs", json=body)
    while response.status_code == 202:
        time.sleep(0.05)
        response = http.get(f"/runs/{response.json()['run_id']}")
    result: dict[str, Any] = response.json()
    result["status_code"] = response.status_code
    return result


def read_rows(endpoint: str, table_id: str, where: str = "TRUE") -> list[dict[str, Any]]:
    with make_bigquery_client("local", endpoint) as client:
        rows = client.query_and_wait(f"SELECT * FROM `{table_id}` WHERE {where} ORDER BY 1, 2")
        return [dict(r) for r in rows]


def expected_totals(seed: Path, day: str) -> dict[str, tuple[int, float]]:
    """Events and amount per event type on `day`, from the scaffolded seed file itself."""
    totals: dict[str, tuple[int, float]] = {}
    for line in seed.read_text().splitlines():
        event = json.loads(line)
        if event["event_ts"].startswith(day):
            count, amount = totals.get(event["event_type"], (0, 0.0))
            totals[event["event_type"]] = (count + 1, amount + event["amount"])
    return {k: (n, round(a, 2)) for k, (n, a) in totals.items()}


@pytest.mark.emulator
def test_finance_runs_a_partition_on_its_local_copy_of_the_table_sales_exposes(
    tmp_path: Path, bigquery_endpoint: str
) -> None:
    sales_dir, finance_dir = write_domains(tmp_path, via_cli=True)
    expected = expected_totals(sales_dir / "transform" / "seed" / "events.jsonl", DAY)
    assert len(expected) >= 1  # the scaffolded seed has events that day

    with running(sales_dir / "dayflow.yaml", bigquery_endpoint) as (sales, http):
        outcome = run(http, "sales_daily", DAY)
        assert outcome["status"] == "succeeded", outcome
        table_id = f"local.{sales.environments['local'].dataset_prefix}mart.daily_events"
        rows = read_rows(bigquery_endpoint, table_id, f"event_date = '{DAY}'")
        assert {r["event_type"]: (r["events"], r["amount"]) for r in rows} == expected
        # The exposed table was created from its contract (as infra does), with its catalog.
        with make_bigquery_client("local", bigquery_endpoint) as client:
            table = client.get_table(table_id)
        assert table.labels == {"owner": "sales-team_acme_example"}
        assert table.description.startswith("Events per day and type")
        assert [(f.name, f.field_type, f.mode) for f in table.schema] == [
            ("event_date", "DATE", "REQUIRED"),
            ("event_type", "STRING", "REQUIRED"),
            ("events", "INTEGER", "REQUIRED"),
            ("customers", "INTEGER", "NULLABLE"),
            ("amount", "FLOAT", "NULLABLE"),
        ]
        assert table.schema[0].description == "day of the events (UTC)"

    # finance's sample of the data product: the rows sales wrote, in finance's seed file.
    copied = ("event_date", "event_type", "amount")
    write_consumer_seed(finance_dir, [{c: str(r[c]) for c in copied} for r in rows])
    with running(finance_dir / "dayflow.yaml", bigquery_endpoint) as (finance, http):
        prefix = finance.environments["local"].dataset_prefix
        copy = f"local.{prefix}sales__mart.daily_events"
        assert len(read_rows(bigquery_endpoint, copy, f"event_date = '{DAY}'")) == len(rows)
        with pytest.raises(BadRequest, match="partition"):  # as BigQuery refuses it on the table
            read_rows(bigquery_endpoint, copy)
        for _ in range(2):  # twice: one run's rows
            outcome = run(http, "finance_daily", DAY)
            assert outcome["status"] == "succeeded", outcome
        revenue = read_rows(
            bigquery_endpoint, f"local.{prefix}mart.net_revenue", f"event_date = '{DAY}'"
        )
        assert {r["event_type"]: r["net_amount"] for r in revenue} == {
            kind: round(amount * 0.8, 2) for kind, (_, amount) in expected.items()
        }


@pytest.mark.emulator
def test_a_job_whose_select_breaks_its_exposed_contract_writes_nothing(
    tmp_path: Path, bigquery_endpoint: str
) -> None:
    sales_dir, _ = write_domains(tmp_path)
    sql = sales_dir / "transform" / "sql" / "daily_events.sql"
    sql.write_text(sql.read_text().replace("COUNT(*) AS events", "COUNT(*) AS event_count"))
    with running(sales_dir / "dayflow.yaml", bigquery_endpoint) as (sales, http):
        outcome = run(http, "sales_daily", DAY)
        # Permanent (422): running the same SQL again cannot succeed.
        assert outcome["status_code"] == 422, outcome
        assert outcome["detail"].startswith(
            "exposed table mart.daily_events: the job's SELECT has no column 'events' "
            "(expected the declared INT64 column)"
        )
        table_id = f"local.{sales.environments['local'].dataset_prefix}mart.daily_events"
        assert read_rows(bigquery_endpoint, table_id, f"event_date = '{DAY}'") == []


def _in_project(deployment: Deployment, project: str) -> list[tuple[str, str]]:
    return [(r.type, r.name) for r in deployment if r.state.get("project") == project]


def test_both_stacks_build_and_finance_reads_exactly_the_table_sales_exposes(
    tmp_path: Path,
) -> None:
    sales_dir, finance_dir = write_domains(tmp_path, via_cli=True)
    sales = run_program("dev", project_dir=sales_dir)
    finance = run_program("dev", project_dir=finance_dir)
    for deployment in (sales, finance):
        states = ((r.type, r.name, r.state) for r in deployment)
        assert [str(v) for v in find_violations(states)] == []
        problems = [
            (x.name, check_resource(x.resource_class, x.props))
            for x in deployment.arguments
            if x.resource_class.__module__.startswith("pulumi_gcp.")
        ]
        assert [p for p in problems if p[1]] == []

    # finance's stack touches the sales project with one resource: read on the exposed table,
    # table-level, for finance's job-runner account.
    assert _in_project(finance, PRODUCER_DEV) == [
        (T.TABLE_IAM, "consumes-sales-mart-daily_events-job-runner")
    ]
    (grant,) = finance.of_type(T.TABLE_IAM)
    assert dict(grant.state) == {
        "project": PRODUCER_DEV,
        "datasetId": "dev_mart",
        "tableId": "daily_events",
        "role": "roles/bigquery.dataViewer",
        "member": finance.one(T.ACCOUNT, "sa-job-runner").state["member"],
    }
    assert {r.state["project"] for r in finance if "project" in r.state} == {
        PRODUCER_DEV,
        "finance-dev",
    }
    assert sales.of_type(T.TABLE_IAM) == []  # the producer's stack knows no consumer
