"""Chunks and lanes of a backfill (dayflow.backfill_plan): exact concurrency, equal chunks."""

from __future__ import annotations

import re

import pytest

from dayflow.backfill_plan import (
    MAX_CONCURRENCY_PER_EXECUTION,
    plan_backfill,
    split_concurrency,
)
from dayflow.errors import UserError
from dayflow.planning import PartitionPlan

WAVES = (("a", "b"), ("c",))


def partitions(count: int) -> list[PartitionPlan]:
    return [PartitionPlan(f"k{i:05d}", WAVES) for i in range(count)]


@pytest.mark.parametrize("concurrency", [1, 7, 20, 21, 40, 55, 99, 100])
def test_lanes_add_up_to_the_concurrency_with_at_most_20_each(concurrency: int) -> None:
    plan = plan_backfill(
        partitions(3000), [], concurrency=concurrency, chunk_size=None, jobs_per_partition=3
    )

    shares = [lane.concurrency for lane in plan.lanes]
    assert sum(shares) == concurrency
    assert max(shares) <= MAX_CONCURRENCY_PER_EXECUTION
    assert max(shares) - min(shares) <= 1
    # Every chunk in exactly one lane, the same number per lane, of equal size.
    dealt = sorted(i for lane in plan.lanes for i in lane.chunks)
    assert dealt == list(range(len(plan.chunks)))
    assert len({len(lane.chunks) for lane in plan.lanes}) == 1
    assert max(len(c) for c in plan.chunks) - min(len(c) for c in plan.chunks) <= 1
    assert [p for chunk in plan.chunks for p in chunk] == list(plan.partitions)


def test_default_chunks_are_one_per_lane_when_they_fit_in_5000_partition_jobs() -> None:
    plan = plan_backfill(
        partitions(3653), [], concurrency=100, chunk_size=None, jobs_per_partition=5
    )
    assert [len(lane.chunks) for lane in plan.lanes] == [1] * 5
    assert max(len(c) for c in plan.chunks) * 5 <= 5000
    longer = plan_backfill(
        partitions(3653), [], concurrency=20, chunk_size=None, jobs_per_partition=5
    )
    assert max(len(c) for c in longer.chunks) * 5 <= 5000
    assert len(longer.chunks) == 4  # 18,265 partition-jobs in one lane


def test_an_explicit_chunk_size_is_kept_and_bounded_by_5000_partition_jobs() -> None:
    plan = plan_backfill(partitions(30), [], concurrency=4, chunk_size=7, jobs_per_partition=3)
    assert [len(c) for c in plan.chunks] == [7, 7, 7, 7, 2]
    with pytest.raises(UserError, match=re.escape("(expected chunk_size <= 1666)")):
        plan_backfill(partitions(30), [], concurrency=4, chunk_size=2000, jobs_per_partition=3)


def test_keys_asked_for_but_not_planned_are_skipped_in_order() -> None:
    planned = [PartitionPlan("b", WAVES)]
    plan = plan_backfill(
        planned, ["a", "b", "c"], concurrency=1, chunk_size=None, jobs_per_partition=3
    )
    assert plan.skipped_keys == ("a", "c")


def test_expected_seconds_follow_the_lanes_and_the_slowest_chunk() -> None:
    plan = plan_backfill(
        partitions(2000), [], concurrency=100, chunk_size=None, jobs_per_partition=1
    )
    # 2,000 partitions, 100 at once, 2 waves of 1 s: 20 rounds of 2 s.
    assert plan.get_expected_seconds(1.0) == 40.0


def test_split_concurrency_is_even() -> None:
    assert split_concurrency(50, 3) == [17, 17, 16]
    assert split_concurrency(100, 5) == [20] * 5
