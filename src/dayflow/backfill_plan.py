"""How a backfill runs on Workflows: its chunks (one child execution each), the lanes of child
executions that run side by side, its billed steps and its expected wall time.

Cloud Workflows runs at most 20 branches or iterations of a `parallel` step at once within one
execution, while separate executions run side by side
(https://cloud.google.com/workflows/docs/reference/syntax/parallel-steps, "concurrency_limit";
https://cloud.google.com/workflows/quotas). So a backfill of `concurrency` partitions in flight
runs ceil(concurrency / 20) lanes in parallel; each lane runs its chunks one after another as
child executions, each with the lane's share of `concurrency` (the shares add up to it exactly).
Chunks are of equal size and dealt round-robin, so the lanes finish together; a lane starts its
next chunk as soon as its previous one ends, whatever the other lanes are doing.

A chunk is at most `MAX_CHUNK_PARTITION_JOBS` partition-jobs (about 25,000 billed steps and
200 KB of plan), so that no child execution comes near Workflows' 100,000 steps or 512 KB of
variables. By default each lane gets as few chunks as that allows (one, for up to 5,000
partition-jobs per lane): a lane's partitions then never wait for the slowest partition of a
chunk before them, and only the backfill's last partitions run below full concurrency.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

from dayflow.errors import UserError
from dayflow.planning import PartitionPlan

# Partitions in flight in one execution (Workflows' per-execution parallel cap).
MAX_CONCURRENCY_PER_EXECUTION = 20
# Partitions in flight across a backfill's child executions.
MAX_CONCURRENCY = 100
# Partition-jobs (about 5 billed steps each) and partitions per chunk, at most.
MAX_CHUNK_PARTITION_JOBS = 5000
MAX_CHUNK_PARTITIONS = 2000
# Key lists in a plan or summary name at most this many keys; their counts are exact.
MAX_LISTED_KEYS = 100

# Billed steps of the workflows (src/dayflow/workflows), as the local engine counts them and
# bench/backfill.py measures them: per partition (the chunk's try and call of run_waves, and
# its loop over waves), per wave (its parallel step), per job (try, POST /runs, the 202 check),
# per chunk (its start and outcome in the parent, its plan request and summary in the child),
# per lane (its loop) and per backfill (the plan request, checks, the loop over upstream stages,
# the summary; each upstream stage is a backfill execution of its own, not counted here).
STEPS_PER_PARTITION = 3
STEPS_PER_WAVE = 1
STEPS_PER_JOB = 3
STEPS_PER_CHUNK = 13
STEPS_PER_LANE = 1
STEPS_PER_BACKFILL = 11


@dataclass(frozen=True)
class Lane:
    """Chunks run one after another, each as a child execution with `concurrency` partitions
    in flight; `chunks` are indices into `BackfillPlan.chunks`."""

    concurrency: int
    chunks: tuple[int, ...]


@dataclass(frozen=True)
class BackfillPlan:
    """The partitions to run (in run order), split into chunks and lanes, and those skipped."""

    partitions: tuple[PartitionPlan, ...]
    chunks: tuple[tuple[PartitionPlan, ...], ...]
    lanes: tuple[Lane, ...]
    skipped_keys: tuple[str, ...]

    @property
    def num_partition_jobs(self) -> int:
        return sum(p.num_jobs for p in self.partitions)

    @property
    def num_waves(self) -> int:
        return sum(len(p.waves) for p in self.partitions)

    def get_estimated_steps(self) -> int:
        """Billed Workflows steps of a run without failures, retries or polls."""
        return (
            STEPS_PER_PARTITION * len(self.partitions)
            + STEPS_PER_WAVE * self.num_waves
            + STEPS_PER_JOB * self.num_partition_jobs
            + STEPS_PER_CHUNK * len(self.chunks)
            + STEPS_PER_LANE * len(self.lanes)
            + STEPS_PER_BACKFILL
        )

    def get_expected_seconds(self, job_seconds: float) -> float:
        """Wall time if every job takes `job_seconds` (a partition: one per wave), each lane
        running its chunks in turn with its concurrency, and orchestration costing nothing."""

        def chunk_seconds(index: int, slots: int) -> float:
            return _schedule([len(p.waves) * job_seconds for p in self.chunks[index]], slots)

        lanes = [
            sum(chunk_seconds(i, lane.concurrency) for i in lane.chunks) for lane in self.lanes
        ]
        return max(lanes, default=0.0)


def _schedule(durations: Sequence[float], slots: int) -> float:
    """Makespan of running `durations` in order on `slots` slots, each taking the next free one
    (as a `parallel` for with `concurrency_limit` does)."""
    free = [0.0] * min(slots, len(durations))
    for duration in durations:
        heapq.heappush(free, heapq.heappop(free) + duration)
    return max(free, default=0.0)


def get_max_chunk_partitions(jobs_per_partition: int, chunk_size: int | None) -> int:
    """The most partitions per chunk: `chunk_size`, or by default 5,000 partition-jobs (at most
    2,000 partitions); raise UserError if `chunk_size` makes more than 5,000 partition-jobs."""
    jobs = max(1, jobs_per_partition)
    if chunk_size is None:
        return max(1, min(MAX_CHUNK_PARTITIONS, MAX_CHUNK_PARTITION_JOBS // jobs))
    if chunk_size * jobs > MAX_CHUNK_PARTITION_JOBS:
        raise UserError(
            f"chunk_size {chunk_size} x {jobs} jobs per partition is more than "
            f"{MAX_CHUNK_PARTITION_JOBS} partition-jobs per chunk "
            f"(expected chunk_size <= {MAX_CHUNK_PARTITION_JOBS // jobs})"
        )
    return chunk_size


def split_concurrency(concurrency: int, lanes: int) -> list[int]:
    """`concurrency` split over `lanes` as evenly as possible (each at most 20; they add up to
    `concurrency` whenever `lanes` >= ceil(concurrency / 20))."""
    share, extra = divmod(concurrency, lanes)
    return [min(MAX_CONCURRENCY_PER_EXECUTION, share + (i < extra)) for i in range(lanes)]


def plan_backfill(
    partitions: Sequence[PartitionPlan],
    all_keys: Sequence[str],
    *,
    concurrency: int,
    chunk_size: int | None,
    jobs_per_partition: int,
) -> BackfillPlan:
    """Split planned `partitions` (in run order) into chunks and lanes.

    Args:
        partitions: the partitions to run, in run order.
        all_keys: every key asked for, in run order; those not planned are the skipped ones.
        concurrency: partitions in flight at once, 1-100.
        chunk_size: partitions per chunk, or None for the default: equal chunks, as few per
            lane as `get_max_chunk_partitions` allows (and one lane per chunk at least).
        jobs_per_partition: the pipeline's jobs per partition (bounds a chunk's size).
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UserError(f"concurrency {concurrency} is out of range (expected 1 to 100)")
    cap = get_max_chunk_partitions(jobs_per_partition, chunk_size)
    planned = {p.partition_key for p in partitions}
    skipped = tuple(k for k in all_keys if k not in planned)
    wanted_lanes = math.ceil(concurrency / MAX_CONCURRENCY_PER_EXECUTION)
    count = len(partitions)
    if chunk_size is None and count:
        # Equal chunks, as many per lane: the lanes then finish together.
        per_lane = math.ceil(math.ceil(count / cap) / wanted_lanes)
        size = math.ceil(count / min(count, per_lane * wanted_lanes))
    else:
        size = cap
    chunks = tuple(tuple(partitions[i : i + size]) for i in range(0, count, size))
    num_lanes = min(wanted_lanes, len(chunks))
    lanes = tuple(
        Lane(share, tuple(range(i, len(chunks), num_lanes)))
        for i, share in enumerate(split_concurrency(concurrency, num_lanes) if num_lanes else [])
    )
    return BackfillPlan(tuple(partitions), chunks, lanes, skipped)
