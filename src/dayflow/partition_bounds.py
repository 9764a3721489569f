"""The partitions a pipeline can have, and the checks every key, range and schedule time from
outside passes before anything is written or queried.

A pipeline's partitions run from its `start` to the newest partition that exists now: the one
containing the current time. That is `lag` partitions past the newest one a schedule time has
processed (with lag 1, today besides yesterday): the documented allowance, so that an operator
can run the still-open partition by hand.

Range endpoints also cap the number of partitions one request may cover (`max_partitions`):
without it a plan of 0002-01-01..9999-12-30 took 81 s and 3.9 GB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dayflow.errors import UserError
from dayflow.partitions import PartitionKeyRange, PartitionScheme, parse_timestamp
from dayflow.spec import Pipeline

# 10 years of daily partitions (3,653) with room: a decade-long daily backfill is one request.
DEFAULT_MAX_RANGE_PARTITIONS = 3700
# Cloud Scheduler sends the time a job was due, never a later one; this much clock skew between
# Scheduler and us is tolerated. A schedule time further ahead is refused, so a forged or
# mistaken future time cannot take the real delivery's claim.
SCHEDULE_TIME_SKEW = timedelta(minutes=15)
# Both the API pattern and the check: a partition key or a range bound.
PARTITION_KEY_PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2})?$"
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class PartitionBounds:
    """The inclusive keys a pipeline's partitions run between, at one moment."""

    pipeline_name: str
    first: str
    last: str

    def check_key(self, key: str, what: str = "partition_key") -> None:
        """Raise UserError naming `key` and the bound it is past."""
        if key < self.first:
            raise UserError(
                f"{what} {key!r} is before pipeline {self.pipeline_name!r} starts "
                f"(expected {self.first} or later)"
            )
        if key > self.last:
            raise UserError(
                f"{what} {key!r} is after the newest partition of pipeline "
                f"{self.pipeline_name!r} (expected {self.last} or earlier, the partition "
                "containing now)"
            )


def get_partition_bounds(
    pipeline_name: str, pipeline: Pipeline, now: datetime | None = None
) -> PartitionBounds:
    """From the pipeline's `start` to the partition containing `now` (default: the clock)."""
    now = now or datetime.now(UTC)
    return PartitionBounds(
        pipeline_name, pipeline.start, pipeline.scheme.get_partition_key_for_time(now)
    )


# The partitions shown when no range is asked for (the status page's grid, `dayflow status`):
# the newest week of a daily pipeline, the newest day of an hourly one.
DEFAULT_PARTITIONS = {"day": 7, "hour": 24}


def get_default_range(scheme: PartitionScheme, now: datetime, first_key: str) -> tuple[str, str]:
    """The newest week (daily) or day (hourly) up to the partition containing `now`, not
    before the pipeline's first partition (its `start`: a date, or an hour key)."""
    if scheme.granularity == "hour" and len(first_key) == 10:
        first_key = f"{first_key}T00"
    end = scheme.get_partition_key_for_time(now)
    start = scheme.get_previous_key(end, DEFAULT_PARTITIONS[scheme.granularity] - 1)
    return max(start, first_key), max(end, first_key)


def check_partition_key(
    pipeline_name: str, pipeline: Pipeline, key: str, now: datetime | None = None
) -> None:
    """Raise UserError unless `key` is a well-formed key of one of the pipeline's partitions."""
    try:
        pipeline.scheme.parse_partition_key(key)
    except ValueError as err:
        raise UserError(str(err)) from None
    get_partition_bounds(pipeline_name, pipeline, now).check_key(key)


def check_partition_range(
    pipeline_name: str,
    pipeline: Pipeline,
    key_range: PartitionKeyRange,
    max_partitions: int = DEFAULT_MAX_RANGE_PARTITIONS,
    now: datetime | None = None,
) -> PartitionKeyRange:
    """Check a range's format, order, bounds and length (before enumerating it); return it."""
    scheme = pipeline.scheme
    try:
        scheme.validate_range(key_range)
    except ValueError as err:
        raise UserError(str(err)) from None
    bounds = get_partition_bounds(pipeline_name, pipeline, now)
    bounds.check_key(key_range.start, "start")
    bounds.check_key(key_range.end, "end")
    count = count_partitions_at_most(scheme, key_range)
    if count > max_partitions:
        raise UserError(
            f"range {key_range.start}..{key_range.end} covers {count} partitions "
            f"(expected at most {max_partitions} per request: split it)"
        )
    return key_range


def check_partition_keys(
    pipeline_name: str,
    pipeline: Pipeline,
    keys: list[str],
    max_partitions: int = DEFAULT_MAX_RANGE_PARTITIONS,
    now: datetime | None = None,
) -> None:
    """Check an explicit list of keys: each well-formed and in bounds, and not too many."""
    if len(keys) > max_partitions:
        raise UserError(f"{len(keys)} partition keys (expected at most {max_partitions})")
    bounds = get_partition_bounds(pipeline_name, pipeline, now)
    for key in keys:
        try:
            pipeline.scheme.parse_partition_key(key)
        except ValueError as err:
            raise UserError(str(err)) from None
        bounds.check_key(key)


def count_partitions_at_most(scheme: PartitionScheme, key_range: PartitionKeyRange) -> int:
    """The number of partitions in a valid range, without listing them: exact for days, an
    upper bound for hours (wall-clock hours: one skipped by spring-forward counts)."""
    first = datetime.fromisoformat(key_range.start[:10])
    last = datetime.fromisoformat(key_range.end[:10])
    if scheme.granularity == "day":
        return (last - first).days + 1
    start = first.replace(hour=int(key_range.start[11:13]))
    end = last.replace(hour=int(key_range.end[11:13]))
    return int((end - start) / timedelta(hours=1)) + 1


def parse_schedule_time(
    pipeline_name: str, pipeline: Pipeline, value: str, now: datetime | None = None
) -> tuple[datetime, str]:
    """Parse an `X-CloudScheduler-ScheduleTime` (RFC 3339) and return it with the partition key
    it processes. Refuse a time too far ahead of `now` or one whose partition precedes `start`."""
    shown = value if len(value) <= 40 else value[:40] + "..."
    match = _RFC3339.match(value)
    if match is None:
        raise UserError(
            f"X-CloudScheduler-ScheduleTime {shown!r} is not an RFC 3339 time "
            "(expected e.g. 2024-01-02T01:00:00Z)"
        )
    # Python reads at most microseconds; RFC 3339 allows any fraction (Scheduler sends nanos).
    fraction = (match[2] or "")[:7]
    try:
        schedule_time = parse_timestamp(f"{match[1].upper()}{fraction}{match[3].upper()}")
    except ValueError as err:
        raise UserError(f"X-CloudScheduler-ScheduleTime: {err}") from None
    now = now or datetime.now(UTC)
    if schedule_time > now + SCHEDULE_TIME_SKEW:
        raise UserError(
            f"X-CloudScheduler-ScheduleTime {shown!r} is in the future (expected at most "
            f"{int(SCHEDULE_TIME_SKEW.total_seconds() // 60)} minutes after now, "
            f"{now.isoformat(timespec='seconds')})"
        )
    key = pipeline.scheme.get_partition_key_for_schedule_time(schedule_time, pipeline.lag)
    if key < pipeline.start:
        raise UserError(
            f"X-CloudScheduler-ScheduleTime {shown!r} processes partition {key!r}, before "
            f"pipeline {pipeline_name!r} starts (expected a partition from {pipeline.start})"
        )
    return schedule_time, key
