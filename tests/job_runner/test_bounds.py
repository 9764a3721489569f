"""Keys and ranges outside a pipeline's bounds, or longer than the cap, are 422 naming the
bound, before anything is written or queried; checksums cost one query per request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from dayflow.ledger import RunLedger, get_ledger_ref
from dayflow.spec import load_spec
from dayflow.warehouse import make_bigquery_client
from tests.job_runner.conftest import App, start_app

pytestmark = pytest.mark.emulator

PIPELINE = "shop_daily"


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory, bigquery_endpoint: str) -> Iterator[App]:
    """A job-runner whose ranges are capped at 10 partitions, with no Workflows endpoint: a
    dry-run backfill must not need one."""
    yield from start_app(
        tmp_path_factory.mktemp("bounds"),
        bigquery_endpoint,
        None,
        max_range_partitions=10,
        max_checksum_partitions=5,
    )


@pytest.mark.parametrize(
    ("key", "detail"),
    [
        ("0001-01-01", "partition_key '0001-01-01' is before pipeline 'shop_daily' starts "
         "(expected 2024-01-01 or later)"),
        ("9999-12-31", "partition_key '9999-12-31' is after the newest partition of pipeline "
         "'shop_daily' (expected "),
    ],
)  # fmt: skip
def test_a_run_with_a_key_outside_the_bounds_is_422_and_writes_no_ledger_row(
    capped: App, bigquery_endpoint: str, key: str, detail: str
) -> None:
    body = {"pipeline": PIPELINE, "job": "stg_orders", "partition_key": key}
    response = capped.http.post("/runs", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(detail)
    env = load_spec(capped.spec_path).get_environment("local")
    with make_bigquery_client("local", bigquery_endpoint) as client:
        ledger = RunLedger(client, get_ledger_ref("local", env.dataset_prefix))
        day = date.fromisoformat(key)
        assert ledger.get_states(PIPELINE, day, day) == []


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", f"/pipelines/{PIPELINE}/plan", {}),
        ("GET", "/runs", {"pipeline": PIPELINE}),
        ("GET", f"/pipelines/{PIPELINE}/checksums", {}),
        ("POST", "/backfills", {}),
    ],
)
def test_range_endpoints_refuse_ranges_past_the_bounds_or_the_cap(
    capped: App, method: str, path: str, params: dict[str, str]
) -> None:
    def call(start: str, end: str) -> tuple[int, str]:
        if method == "POST":
            body = {"pipeline": PIPELINE, "start": start, "end": end, "dry_run": True}
            response = capped.http.post(path, json=body)
        else:
            response = capped.http.get(path, params={**params, "start": start, "end": end})
        return response.status_code, response.json().get("detail", "")

    status, detail = call("0002-01-01", "9999-12-30")
    assert status == 422 and "start '0002-01-01' is before pipeline 'shop_daily'" in detail
    status, detail = call("2024-01-01", "9999-12-30")
    assert status == 422 and "end '9999-12-30' is after the newest partition" in detail
    cap = 5 if "checksums" in path else 10
    status, detail = call("2024-01-01", f"2024-01-{cap + 1:02d}")
    assert status == 422 and f"covers {cap + 1} partitions (expected at most {cap}" in detail
    assert call("2024-01-01", f"2024-01-{cap:02d}")[0] == 200


def test_backfill_keys_outside_the_bounds_are_422(capped: App) -> None:
    response = capped.http.post(
        "/backfills", json={"pipeline": PIPELINE, "partition_keys": ["2024-01-02", "9999-12-31"]}
    )
    assert response.status_code == 422
    assert "partition_key '9999-12-31' is after the newest partition" in response.json()["detail"]


def test_checksums_of_a_range_cost_one_query(capped: App, bigquery_endpoint: str) -> None:
    for job in ("stg_orders", "dim_customers", "mart_daily_sales"):
        body = {"pipeline": PIPELINE, "job": job, "partition_key": "2024-01-02"}
        assert capped.http.post("/runs", json=body).status_code == 200
    before = datetime.now(UTC)
    response = capped.http.get(
        f"/pipelines/{PIPELINE}/checksums", params={"start": "2024-01-01", "end": "2024-01-05"}
    )
    assert response.status_code == 200, response.text
    partitions = {p["partition_key"]: p["tables"] for p in response.json()["partitions"]}
    assert list(partitions) == [f"2024-01-0{d}" for d in range(1, 6)]
    assert partitions["2024-01-02"][0]["rows"] > 0
    assert all(t["rows"] == 0 for t in partitions["2024-01-03"])
    with make_bigquery_client("local", bigquery_endpoint) as client:
        queries = [
            job
            for job in client.list_jobs(min_creation_time=before, all_users=True)
            if "FARM_FINGERPRINT" in (getattr(job, "query", "") or "")
        ]
    assert len(queries) == 1
