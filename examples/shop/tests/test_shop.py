"""The shop on its whole local stack, through the `dayflow_project` fixture of dayflow.testing
(the spec is the pytest ini option `dayflow_spec`: this project's dayflow.yaml):
reruns, concurrent runs and backfills leave exactly one run's rows, by checksum.

The stack is shared by the session: each test uses partitions of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from dayflow.testing import LocalProject

pytestmark = pytest.mark.emulator

PIPELINE = "shop_daily"
# extract_fx_rates is an http job: the shop's own FX extractor (services/fx_extractor);
# score_customers a cloud_run_job: the shop's own Python (jobs/score_customers.py).
JOBS = ["stg_orders", "dim_customers", "mart_daily_sales", "extract_fx_rates", "score_customers"]


@pytest.fixture(scope="module")
def shop(dayflow_project: LocalProject) -> LocalProject:
    """The example's stack with its raw tables seeded."""
    assert set(dayflow_project.seed()) == {"raw.orders", "raw.customers"}
    return dayflow_project


def run_with_attempt(shop: LocalProject, key: str, attempt: int) -> list[dict[str, Any]]:
    """Every job of one partition, in plan order, each as attempt number `attempt`."""
    return [shop.runner.run(PIPELINE, job, key, attempt) for job in JOBS]


def test_running_a_partition_three_times_leaves_one_runs_rows(shop: LocalProject) -> None:
    first = {r["job"]: r for r in shop.run(PIPELINE, "2024-01-03")}
    once = shop.checksum(PIPELINE, "2024-01-03")
    assert once["2024-01-03"]["staging.stg_orders"][0] == first["stg_orders"]["rows_written"] > 0
    assert once["2024-01-03"]["staging.fx_rates"][0] == first["extract_fx_rates"]["rows_written"]
    for _ in range(2):
        shop.run(PIPELINE, "2024-01-03")
    assert shop.checksum(PIPELINE, "2024-01-03") == once
    runs = shop.get_runs(PIPELINE, "2024-01-03")
    assert {r["job"]: r["attempt"] for r in runs} == dict.fromkeys(JOBS, 3)
    shop.assert_succeeded(PIPELINE, "2024-01-03")


def test_three_concurrent_runs_of_a_partition_leave_one_runs_rows(shop: LocalProject) -> None:
    shop.run(PIPELINE, "2024-01-04")
    once = shop.checksum(PIPELINE, "2024-01-04")
    with ThreadPoolExecutor(3) as pool:
        for attempt_outcomes in pool.map(
            lambda a: run_with_attempt(shop, "2024-01-04", a), [11, 12, 13]
        ):
            assert [o["status"] for o in attempt_outcomes] == ["succeeded"] * len(JOBS)
    assert shop.checksum(PIPELINE, "2024-01-04") == once
    assert once["2024-01-04"]["staging.stg_orders"][0] > 0


def test_concurrent_runs_of_different_partitions_all_land(shop: LocalProject) -> None:
    keys = ["2024-01-05", "2024-01-06", "2024-01-07", "2024-01-08"]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: shop.run(PIPELINE, k), keys))
    concurrent = shop.checksum(PIPELINE, keys[0], keys[-1])
    assert all(tables["staging.stg_orders"][0] > 0 for tables in concurrent.values())
    for key in keys:
        shop.run(PIPELINE, key)
    assert shop.checksum(PIPELINE, keys[0], keys[-1]) == concurrent


def test_a_backfill_through_the_workflows_engine_rerun_leaves_one_runs_rows(
    shop: LocalProject,
) -> None:
    first = shop.backfill(PIPELINE, "2024-01-14", "2024-01-16")
    assert (first["partitions"], first["succeeded"], first["failed"]) == (3, 3, 0)
    shop.assert_succeeded(PIPELINE, "2024-01-14", "2024-01-16")
    once = shop.checksum(PIPELINE, "2024-01-14", "2024-01-16")
    assert all(t["mart.daily_sales"][0] > 0 for t in once.values())

    again = shop.backfill(PIPELINE, "2024-01-14", "2024-01-16")

    assert again["backfill_id"] != first["backfill_id"]
    assert shop.checksum(PIPELINE, "2024-01-14", "2024-01-16") == once
    runs = shop.get_runs(PIPELINE, "2024-01-14", "2024-01-16")
    assert {r["attempt"] for r in runs} == {2}
    assert len(runs) == 3 * len(JOBS)
    # Nothing is missing now: a backfill of only the missing partitions starts no execution.
    nothing = shop.backfill(PIPELINE, "2024-01-14", "2024-01-16", only="missing")
    assert (nothing["backfill_id"], nothing["partitions"]) == (None, 0)


def run_cli(shop: LocalProject, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `dayflow` entry point, pointed at the session's stack (its state directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYFLOW_")}
    env |= {"DAYFLOW_STATE_DIR": str(shop.state_dir), "DAYFLOW_SPEC": str(shop.spec_path)}
    return subprocess.run(
        [sys.executable, "-c", "from dayflow.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_dayflow_run_uses_the_same_partition_runs_and_an_unknown_job_is_one_line(
    shop: LocalProject,
) -> None:
    ran = run_cli(shop, "run", PIPELINE, "--partition", "2024-01-20")

    assert ran.returncode == 0, ran.stderr
    assert all(job in ran.stdout for job in JOBS)
    shop.assert_succeeded(PIPELINE, "2024-01-20")
    unknown = run_cli(shop, "run", PIPELINE, "--partition", "2024-01-20", "--job", "nope")
    assert unknown.returncode == 2
    assert len(unknown.stderr.splitlines()) == 1, unknown.stderr
    assert unknown.stderr.startswith("error: unknown job 'nope' in pipeline 'shop_daily'")
