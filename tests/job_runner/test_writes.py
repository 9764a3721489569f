"""What a write costs and needs: the replace script reads its SELECT once, the backfill estimate
counts the SELECTs that really run, and a missing dataset is infra's to create."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from google.api_core.exceptions import NotFound

from dayflow.backfill_plan import plan_backfill
from dayflow.partitions import PartitionKeyRange
from dayflow.planning import plan_partitions
from dayflow.semantic import INGEST_LOOKBACK
from dayflow.spec import Destination, load_spec
from dayflow.warehouse import TableRef, make_bigquery_client
from job_runner.domain.backfills import estimate
from job_runner.domain.runner import JobRunner
from job_runner.domain.writes import ROWS_TABLE, _replace_sql
from tests.conftest import Server, write_spec

GIB = 2**30


@pytest.fixture
def http(job_runner: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=job_runner.url, timeout=120) as client:
        yield client


@pytest.mark.emulator
def test_missing_dataset_is_a_permanent_error_naming_it_and_pulumi_up(
    http: httpx.Client, tmp_path: Path, bigquery_endpoint: str
) -> None:
    env = load_spec(tmp_path / "dayflow.yaml").get_environment("local")
    dataset = f"local.{env.get_dataset_id('staging')}"
    with make_bigquery_client("local", bigquery_endpoint) as client:
        client.delete_dataset(dataset, delete_contents=True)

        response = http.post(
            "/runs",
            json={"pipeline": "shop_daily", "job": "stg_orders", "partition_key": "2024-01-02"},
        )

        assert response.status_code == 422, response.text
        assert response.json()["error_kind"] == "permanent"
        assert response.json()["detail"] == (
            f"dataset {dataset} does not exist (expected infra to create it: run `pulumi up` for "
            "this environment; locally, `dayflow local up`)"
        )
        with pytest.raises(NotFound):  # the job-runner never creates a dataset
            client.get_dataset(dataset)


@pytest.mark.emulator
def test_missing_table_in_an_existing_dataset_is_created_by_the_run(
    http: httpx.Client, tmp_path: Path, bigquery_endpoint: str
) -> None:
    env = load_spec(tmp_path / "dayflow.yaml").get_environment("local")
    table = f"local.{env.get_dataset_id('staging')}.stg_orders"
    with make_bigquery_client("local", bigquery_endpoint) as client:
        with pytest.raises(NotFound):
            client.get_table(table)

        response = http.post(
            "/runs",
            json={"pipeline": "shop_daily", "job": "stg_orders", "partition_key": "2024-01-02"},
        )

        assert response.status_code == 200, response.text
        assert client.get_table(table).num_rows == response.json()["rows_written"] > 0


def test_replace_script_evaluates_the_select_once_into_a_temp_table() -> None:
    select = "SELECT DATE '2024-01-02' AS d, 1 AS n FROM `local.raw.orders`"
    script = _replace_sql(
        TableRef("local", "staging", "t"), Destination(dataset="staging", table="t", partition_field="d"),
        ["d", "n"], select,
    )  # fmt: skip

    assert script.count(select) == 1
    assert script.count("`local.raw.orders`") == 1
    statements = [s.strip() for s in script.split(";\n") if s.strip()]
    assert [s.split()[0] for s in statements] == [
        "BEGIN", "CREATE", "ASSERT", "DELETE", "INSERT", "COMMIT",
    ]  # fmt: skip
    assert statements[1].startswith(f"CREATE TEMP TABLE {ROWS_TABLE} AS")
    assert f"FROM {ROWS_TABLE}" in statements[2] and statements[4].endswith(f"FROM {ROWS_TABLE}")


class DryRunClient:
    """The BigQuery client's dry-run query at the network boundary: a dry run returns the bytes
    the query would read without running it
    (https://cloud.google.com/bigquery/docs/samples/bigquery-query-dry-run). Here a query reads
    10 GiB per ingest day in its `ingested_at` window: bounded by the partition's end plus the
    lateness allowance, or, without a bound, up to `now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.dry_runs: list[str] = []

    def query(self, sql: str, job_config: Any) -> Any:
        assert job_config.dry_run
        self.dry_runs.append(sql)
        params = {p.name: p.value for p in job_config.query_parameters}
        start, end = params["partition_start"], params["partition_end"]
        if "ingested_at" not in sql:
            return _Job(GIB)  # a bigquery_sql job: 1 GiB whatever the partition
        upper = self.now
        if bound := re.search(
            r"ingested_at < TIMESTAMP_ADD\(@partition_end, INTERVAL (\d+) SECOND", sql
        ):
            upper = min(upper, end + timedelta(seconds=int(bound[1])))
        lower = start - INGEST_LOOKBACK
        return _Job(round((upper - lower).total_seconds() / 86400 * 10 * GIB))


class _Job:
    def __init__(self, total_bytes_processed: int) -> None:
        self.total_bytes_processed = total_bytes_processed


@pytest.mark.parametrize(
    ("lateness", "expected_gib"),
    # A 30-day backfill, 2 dedup jobs, 10 GiB of ingest a day, run on day 31 (the last
    # partition's end). Bounded: 2 + 1 + 7 days per partition for the first; the last partition's
    # window ends now (3 days). Unbounded: the first scans 32 days, the last 3.
    [(7, 2 * 30 * (100 + 30) / 2), (None, 2 * 30 * (320 + 30) / 2)],
)
def test_backfill_estimate_counts_the_dedup_selects_as_they_run(
    tmp_path: Path, lateness: int | None, expected_gib: float
) -> None:
    spec_path = write_spec(tmp_path)
    raw = yaml.safe_load(spec_path.read_text())
    jobs = raw["pipelines"]["shop_events"]["jobs"]
    del jobs["mart_dbt"]
    for name in ("orders_semantic", "customers_semantic"):
        jobs[name]["allowed_lateness_days"] = lateness
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    spec = load_spec(spec_path)
    pipeline = spec.pipelines["shop_events"]
    end = pipeline.scheme.get_partition_bounds("2024-01-30")[1]
    client = DryRunClient(now=end)
    runner = JobRunner(spec, "local", client=client, ledger=None)  # type: ignore[arg-type]
    plans = plan_partitions(pipeline, PartitionKeyRange("2024-01-01", "2024-01-30"))

    result = estimate(
        runner,
        pipeline,
        plan_backfill(plans, [], concurrency=4, chunk_size=None, jobs_per_partition=2),
    )

    assert len(client.dry_runs) == 4  # 2 jobs x (first, last partition)
    assert result["estimated_bytes_processed"] == pytest.approx(expected_gib * GIB, rel=1e-6)
