"""`backfill` on the local engine against the real job-runner and the BigQuery emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.workflows.conftest import Backfills, write_faults

pytestmark = pytest.mark.emulator

START, END = "2024-01-01", "2024-01-30"
JOBS = {"dim_customers", "mart_daily_sales", "stg_orders"}


def keys(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def test_backfill_keeps_at_most_concurrency_partitions_in_flight_and_then_has_nothing_missing(
    make_backfills: Callable[..., Backfills],
) -> None:
    backfills = make_backfills("runner")
    backfills.get_stats(reset=True)
    plan = backfills.backfill(
        pipeline="shop_daily", start=START, end=END, concurrency=4, dry_run=True
    )
    assert backfills.get_stats()["max_runs_in_flight"] == 0  # a dry run calls no POST /runs
    assert (plan["partitions"], plan["partition_jobs"], plan["planned_keys"]) == (
        30,
        90,
        keys(START, END),
    )

    summary = backfills.backfill(
        pipeline="shop_daily", start=START, end=END, concurrency=4, backfill_id="bf-30-days"
    )

    stats = backfills.get_stats()
    assert summary == {
        "backfill_id": "bf-30-days",
        "pipeline": "shop_daily",
        "dry_run": False,
        "order": "asc",
        "only": "all",
        "chunks": 1,
        "partitions": 30,
        "partition_jobs": 90,
        "succeeded": 30,
        "failed": 0,
        "failed_keys": [],
        "skipped": 0,
        "skipped_keys": [],
    }
    assert 1 < stats["max_partitions_in_flight"] <= 4
    states = backfills.get_job_states(START, END)
    assert sorted(states) == keys(START, END)
    assert all(
        set(jobs) == JOBS and all(s["status"] == "succeeded" for s in jobs.values())
        for jobs in states.values()
    )
    steps = backfills.steps_of_last_backfill(children=1)
    assert steps / 90 <= 5  # billed steps per partition-job
    assert abs(plan["estimated_steps"] - steps) <= 0.05 * steps

    backfills.get_stats(reset=True)
    again = backfills.backfill(
        pipeline="shop_daily", start=START, end=END, concurrency=4, only="missing"
    )

    assert (again["partitions"], again["succeeded"], again["failed"]) == (0, 0, 0)
    assert (again["skipped"], again["skipped_keys"]) == (30, keys(START, END))
    assert backfills.get_stats()["max_runs_in_flight"] == 0  # no POST /runs at all


def test_backfill_over_20_runs_lanes_of_child_executions_side_by_side_within_the_cap(
    make_backfills: Callable[..., Backfills],
) -> None:
    # Workflows runs at most 20 iterations of a parallel step at once per execution
    # (https://cloud.google.com/workflows/docs/reference/syntax/parallel-steps, concurrency_limit);
    # separate executions run side by side (https://cloud.google.com/workflows/quotas).
    start, end = "2024-05-01", "2024-05-30"
    backfills = make_backfills("wide", max_concurrent_runs=100)
    backfills.get_stats(reset=True)

    summary = backfills.backfill(pipeline="shop_daily", start=start, end=end, concurrency=25)

    assert (summary["chunks"], summary["succeeded"], summary["failed"]) == (2, 30, 0)
    chunks = backfills.engine.list_executions("backfill_chunk")[:2]
    assert sorted(json.loads(c.argument or "{}")["concurrency"] for c in chunks) == [12, 13]
    # Both chunks ran at once: more partitions in flight than either one holds, never more
    # than asked.
    assert 13 < backfills.get_stats()["max_partitions_in_flight"] <= 25
    states = backfills.get_job_states(start, end)
    assert len(states) == 30
    assert all(s["status"] == "succeeded" for jobs in states.values() for s in jobs.values())


def test_backfill_retries_transient_faults_reports_failed_partitions_and_only_failed_repairs_them(
    make_backfills: Callable[..., Backfills], tmp_path: Path
) -> None:
    # Keys no other test runs: the job-runner's BigQuery job ids (pipeline, job, key, attempt) do
    # not name the datasets, so on the shared emulator a job-runner reuses another's job of the
    # same id instead of writing its own tables, which would hide what this test compares.
    start, end = "2024-02-03", "2024-02-07"
    broken = ["2024-02-04", "2024-02-06"]
    faults = write_faults(tmp_path / "faults.json", transient_rate=0.2, permanent=broken, seed=7)
    faulty = make_backfills("faulty", faults_file=faults)

    summary = faulty.backfill(pipeline="shop_daily", start=start, end=end, concurrency=4)

    assert (summary["partitions"], summary["succeeded"], summary["failed"]) == (5, 3, 2)
    assert sorted(summary["failed_keys"]) == broken
    states = faulty.get_job_states(start, end)
    healthy = [jobs for key, jobs in states.items() if key not in broken]
    assert all(s["status"] == "succeeded" for jobs in healthy for s in jobs.values())
    # Transient 503s were retried: some runs succeeded on a later attempt, after backoff sleeps
    # of 1 s doubling (on the fake clock).
    assert any(s["attempt"] > 1 for jobs in healthy for s in jobs.values())
    assert 1.0 in faulty.clock.sleeps
    assert set(faulty.clock.sleeps) <= {1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0}
    for key in broken:  # the first wave failed for good; its downstream job never started
        assert {j: s["status"] for j, s in states[key].items()} == {
            "dim_customers": "failed",
            "stg_orders": "failed",
        }

    faults.unlink()  # the cause is fixed
    repaired = faulty.backfill(
        pipeline="shop_daily", partition_keys=keys(start, end), only="failed", chunk_size=2
    )

    # Chunks hold partitions to run: the 2 failed ones make one chunk of chunk_size 2.
    assert (repaired["chunks"], repaired["partitions"], repaired["succeeded"]) == (1, 2, 2)
    assert repaired["failed"] == 0
    assert (repaired["skipped"], repaired["skipped_keys"]) == (
        3,
        [k for k in keys(start, end) if k not in broken],
    )
    assert all(
        s["status"] == "succeeded"
        for jobs in faulty.get_job_states(start, end).values()
        for s in jobs.values()
    )
    # The reference: the same partitions run once, without faults, by another job-runner with
    # its own datasets (attempt numbers of its own keep its BigQuery job ids apart).
    clean = make_backfills("clean")
    clean.run_directly(start, end, attempt=1000)
    checksums = faulty.get_checksums(start, end)
    assert all(sum(rows for rows, _ in tables) > 0 for _, tables in checksums)
    assert checksums == clean.get_checksums(start, end)


def test_dry_run_splits_a_range_into_chunks_planned_in_the_requested_order(
    make_backfills: Callable[..., Backfills],
) -> None:
    backfills = make_backfills("runner")

    plan = backfills.backfill(
        pipeline="shop_daily", start=START, end=END, order="desc", chunk_size=7, dry_run=True
    )

    assert (plan["chunks"], plan["partitions"], plan["skipped"]) == (5, 30, 0)
    assert plan["planned_keys"] == keys(START, END)[::-1]
    assert backfills.get_stats()["max_runs_in_flight"] == 0
    too_big = backfills.run(
        "backfill", {"pipeline": "shop_daily", "start": START, "end": END, "chunk_size": 2000}
    )
    assert too_big.error_tags == ["ValueError"]
    assert too_big.error["message"] == (
        "chunk_size 2000 x 3 jobs per partition is more than 5000 partition-jobs per chunk"
        " (expected chunk_size <= 1666)"
    )


def test_hourly_range_is_chunked_by_whole_local_days_and_skips_the_hour_dst_removes(
    make_backfills: Callable[..., Backfills],
) -> None:
    hourly = {
        "granularity": "hour",
        "timezone": "Europe/Stockholm",
        "schedule": "15 * * * *",
        "start": "2024-01-01T00",
        "jobs": {
            "load": {
                "kind": "dedup",
                "topic": "orders",
                "destination": {
                    "dataset": "semantic",
                    "table": "orders_hourly",
                    "partition_field": "event_time",
                    "partition_type": "TIMESTAMP",
                },
            }
        },
    }
    backfills = make_backfills("runner", pipelines={"events_hourly": hourly})

    plan = backfills.backfill(
        pipeline="events_hourly",
        start="2024-03-30T05",
        end="2024-04-01T20",
        chunk_size=24,
        dry_run=True,
    )

    # 2024-03-31 has 23 hours in Stockholm (02:00 does not exist): 19 + 23 + 21 partitions.
    expected = [f"2024-03-30T{h:02d}" for h in range(5, 24)]
    expected += [f"2024-03-31T{h:02d}" for h in range(24) if h != 2]
    expected += [f"2024-04-01T{h:02d}" for h in range(21)]
    assert (plan["chunks"], plan["partitions"], plan["partition_jobs"]) == (3, 63, 63)
    assert plan["planned_keys"] == expected
