"""Run plans: which partitions of a pipeline to run, and for each the job waves in dependency order.

A wave is a set of jobs whose dependencies all ran in earlier waves, so a wave's jobs may run in
parallel. `only="failed"` and `only="missing"` read the run ledger's newest states and keep, per
partition, the jobs to redo plus everything downstream of them. A `stale` run (running past its
lease: its job-runner died) counts as failed for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from dayflow.partitions import Order, PartitionKeyRange
from dayflow.spec import Pipeline

Only = Literal["all", "failed", "missing"]
# Newest statuses that only="failed" redoes (dayflow.ledger.FAILED_STATUSES).
_FAILED = frozenset({"failed", "stale"})
Waves = tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    partition_key: str
    waves: Waves

    @property
    def num_jobs(self) -> int:
        return sum(len(w) for w in self.waves)


def get_job_waves(pipeline: Pipeline, jobs: Iterable[str] | None = None) -> Waves:
    """Jobs in dependency order, grouped in waves (Kahn levels), names sorted within a wave.

    With `jobs`, only those jobs are kept (in the same waves order); dependencies outside the
    selection are taken as already done.
    """
    return _waves(_graph_of(pipeline), frozenset(jobs) if jobs is not None else None)


def _graph_of(pipeline: Pipeline) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, job.get_job_dependencies()) for name, job in pipeline.jobs.items())


@cache
def _waves(graph: tuple[tuple[str, tuple[str, ...]], ...], keep: frozenset[str] | None) -> Waves:
    level: dict[str, int] = {}
    deps = dict(graph)

    def level_of(name: str) -> int:
        if name not in level:
            level[name] = 1 + max((level_of(d) for d in deps[name]), default=-1)
        return level[name]

    for name in deps:
        level_of(name)
    waves: dict[int, list[str]] = {}
    for name, lvl in level.items():
        if keep is None or name in keep:
            waves.setdefault(lvl, []).append(name)
    return tuple(tuple(sorted(waves[lvl])) for lvl in sorted(waves))


@cache
def _downstream(
    graph: tuple[tuple[str, tuple[str, ...]], ...], roots: frozenset[str]
) -> frozenset[str]:
    children: dict[str, list[str]] = {}
    for name, deps in graph:
        for d in deps:
            children.setdefault(d, []).append(name)
    seen = set(roots)
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return frozenset(seen)


def plan_partitions(
    pipeline: Pipeline,
    key_range: PartitionKeyRange | None = None,
    *,
    keys: list[str] | None = None,
    order: Order = "asc",
    only: Only = "all",
    statuses: Mapping[tuple[str, str], str] | None = None,
    jobs: Iterable[str] | None = None,
) -> list[PartitionPlan]:
    """Plan a range (or an explicit list of keys) of partitions.

    `statuses` maps (partition_key, job) to the newest ledger status; it is needed for
    `only="failed"` (redo jobs whose newest run failed or went stale) and `only="missing"` (redo
    jobs that never succeeded). Partitions with nothing to redo are left out.
    """
    scheme = pipeline.scheme
    if keys is None:
        if key_range is None:
            raise ValueError("plan needs a key range or a list of partition keys")
        keys = scheme.get_partition_keys(key_range, order)
    else:
        for key in keys:
            scheme.parse_partition_key(key)
        keys = sorted(set(keys), reverse=order == "desc")
    selected = frozenset(jobs) if jobs is not None else None
    graph = _graph_of(pipeline)
    all_waves = _waves(graph, selected)
    if only == "all":
        return [PartitionPlan(key, all_waves) for key in keys]
    statuses = statuses or {}
    names = [n for wave in all_waves for n in wave]
    plans = []
    for key in keys:
        if only == "failed":
            redo = frozenset(n for n in names if statuses.get((key, n)) in _FAILED)
        else:
            redo = frozenset(n for n in names if statuses.get((key, n)) != "succeeded")
        if not redo:
            continue
        keep = _downstream(graph, redo)
        if selected is not None:
            keep &= selected
        plans.append(PartitionPlan(key, _waves(graph, keep)))
    return plans
