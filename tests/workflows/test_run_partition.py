"""`run_partition` on the local engine against the real job-runner and the BigQuery emulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.workflows.conftest import Backfills, write_faults

pytestmark = pytest.mark.emulator


def test_run_partition_runs_every_job_retrying_transient_failures_and_returns_each_outcome(
    make_backfills: Callable[..., Backfills], tmp_path: Path
) -> None:
    faults = write_faults(tmp_path / "faults.json", transient_rate=0.5, permanent=[], seed=3)
    backfills = make_backfills("flaky", faults_file=faults)

    execution = backfills.run(
        "run_partition",
        {"pipeline": "shop_daily", "partition_key": "2024-01-02", "backfill_id": "bf-1"},
    )

    assert execution.state == "SUCCEEDED", execution.error
    result = execution.result_value
    assert (result["pipeline"], result["partition_key"], result["status"]) == (
        "shop_daily",
        "2024-01-02",
        "succeeded",
    )
    assert sorted(result["jobs"]) == ["dim_customers", "mart_daily_sales", "stg_orders"]
    assert all(o["status"] == "succeeded" for o in result["jobs"].values())
    assert result["jobs"]["mart_daily_sales"]["rows_written"] > 0
    states = backfills.get_job_states("2024-01-02", "2024-01-02")["2024-01-02"]
    assert {j: s["status"] for j, s in states.items()} == dict.fromkeys(result["jobs"], "succeeded")
    # Each 503 was retried after a backoff sleep (1 s, then doubling) on the fake clock, and
    # recorded by the job-runner as one more attempt.
    retries = sum(o["attempt"] - 1 for o in result["jobs"].values())
    assert retries > 0
    assert len(backfills.clock.sleeps) == retries
    assert 1.0 in backfills.clock.sleeps


def test_run_partition_fails_naming_the_job_that_failed_permanently_and_stops_before_next_wave(
    make_backfills: Callable[..., Backfills], tmp_path: Path
) -> None:
    faults = write_faults(
        tmp_path / "faults.json", transient_rate=0, permanent=["2024-01-05"], seed=1
    )
    backfills = make_backfills("faulty", faults_file=faults)

    execution = backfills.run(
        "run_partition", {"pipeline": "shop_daily", "partition_key": "2024-01-05"}
    )

    assert execution.state == "FAILED"
    error = execution.error
    assert error["tags"] == ["JobFailedError"]
    assert error["message"].startswith("partition 2024-01-05 of shop_daily failed: job ")
    assert "injected permanent failure for partition 2024-01-05" in error["message"]
    assert "HTTP 422" in error["message"]
    assert sorted(error["failed_jobs"]) == ["dim_customers", "stg_orders"]
    assert error["jobs"]["stg_orders"] == {
        "status": "failed",
        "code": 422,
        "error": "HTTP 422: injected permanent failure for partition 2024-01-05",
    }
    assert "mart_daily_sales" not in error["jobs"]
    assert backfills.clock.sleeps == []  # a 422 is never retried
    states = backfills.get_job_states("2024-01-05", "2024-01-05")["2024-01-05"]
    assert set(states) == {"dim_customers", "stg_orders"}  # mart never started
