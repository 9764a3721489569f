"""Freshness: how old a pipeline's newest complete partition is, against its declared limit.

A partition is complete when the newest run of every job of the pipeline succeeded for it. Its
age is the time since the partition's end (its data can be complete only from then): a daily
pipeline scheduled at 02:00 with lag 1 is 2 h old just after its run, and 26 h old just before
the next one, so its limit needs some hours above 26 h (the run's own time, and slack).

The age grows whether runs fail or never start, so a schedule that silently stops turns a
pipeline stale as surely as a failing job does. The job-runner computes it from the run ledger
(`GET /freshness`; Cloud Scheduler calls `POST /freshness/check`, which also logs one line per
pipeline for the freshness alert), and `dayflow status` shows it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dayflow.ledger import RunState
from dayflow.spec import Pipeline
from dayflow.spec_alerts import parse_duration

# How far back the ledger is read for a pipeline's newest complete partition: beyond its limit
# and this many days, the pipeline is stale with "no complete partition" either way.
LOOKBACK_DAYS = 7


def format_age(age: timedelta) -> str:
    """`12m`, `26h 5m`, `28h` (up to two days, as limits are declared) or `3d 4h`."""
    minutes = int(age.total_seconds()) // 60
    hours, mins = divmod(minutes, 60)
    if hours >= 48:
        return f"{hours // 24}d {hours % 24}h"
    if not hours:
        return f"{mins}m"
    return f"{hours}h {mins}m" if mins else f"{hours}h"


@dataclass(frozen=True)
class Freshness:
    """One pipeline's freshness at `checked_at`. `stale` is None when no limit is declared."""

    pipeline: str
    checked_at: datetime
    limit: timedelta | None
    newest_partition_key: str | None
    newest_partition_end: datetime | None

    @property
    def age(self) -> timedelta | None:
        if self.newest_partition_end is None:
            return None
        return max(self.checked_at - self.newest_partition_end, timedelta(0))

    @property
    def stale(self) -> bool | None:
        if self.limit is None:
            return None
        age = self.age
        return age is None or age > self.limit

    def describe(self) -> str:
        """`newest 2024-01-05, 3h 12m old (limit 28h)`, or what is missing."""
        limit = f" (limit {format_age(self.limit)})" if self.limit else " (no limit declared)"
        if self.age is None:
            return f"no complete partition in the last {LOOKBACK_DAYS} days{limit}"
        return f"newest {self.newest_partition_key}, {format_age(self.age)} old{limit}"

    def to_public(self) -> dict[str, Any]:
        age = self.age
        return {
            "pipeline": self.pipeline,
            "checked_at": self.checked_at.isoformat(),
            "limit_seconds": int(self.limit.total_seconds()) if self.limit else None,
            "newest_partition_key": self.newest_partition_key,
            "newest_partition_end": (
                self.newest_partition_end.isoformat() if self.newest_partition_end else None
            ),
            "age_seconds": int(age.total_seconds()) if age is not None else None,
            "stale": self.stale,
            "summary": self.describe(),
        }


def get_lookback_start(pipeline: Pipeline, now: datetime) -> datetime:
    """The earliest time whose partitions count: the limit or LOOKBACK_DAYS back, whichever is
    further."""
    limit = get_limit(pipeline) or timedelta(0)
    return now - max(limit + timedelta(days=1), timedelta(days=LOOKBACK_DAYS))


def get_limit(pipeline: Pipeline) -> timedelta | None:
    alerts = pipeline.alerts
    return parse_duration(alerts.freshness) if alerts and alerts.freshness else None


def get_freshness(
    name: str, pipeline: Pipeline, states: Iterable[RunState], now: datetime
) -> Freshness:
    """The freshness of `pipeline` from the newest ledger state of its (partition, job)s."""
    succeeded: dict[str, set[str]] = defaultdict(set)
    for state in states:
        if state.status == "succeeded":
            succeeded[state.partition_key].add(state.job)
    jobs = set(pipeline.jobs)
    complete = [key for key, done in succeeded.items() if jobs <= done]
    newest = max(complete, default=None)  # keys of one scheme sort in time order
    end = pipeline.scheme.get_partition_bounds(newest)[1] if newest else None
    return Freshness(name, now, get_limit(pipeline), newest, end)
