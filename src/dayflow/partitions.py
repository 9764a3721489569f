"""Partition keys of a pipeline: daily (`YYYY-MM-DD`) or hourly (`YYYY-MM-DDTHH`) in its timezone.

Keys are local wall-clock times in the pipeline's timezone, so they read as the team thinks of
them. Across DST changes:
- an hour skipped by spring-forward has no key (that day has 23 hourly partitions);
- an hour repeated by fall-back is one partition covering both occurrences (two real hours), so
  every instant belongs to exactly one partition and consecutive partitions' bounds touch.
Daily partitions span local midnight to local midnight (23, 24 or 25 hours).

Keys are zero-padded, so their string order is their time order.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

Granularity = Literal["day", "hour"]
Order = Literal["asc", "desc"]

_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOUR_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}$")
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PartitionKeyRange:
    """An inclusive range of partition keys: both `start` and `end` belong to it."""

    start: str
    end: str


class PartitionScheme:
    """The partitions of one granularity in one timezone."""

    def __init__(self, granularity: Granularity, timezone: str) -> None:
        if granularity not in ("day", "hour"):
            raise ValueError(f"granularity {granularity!r} is not supported (expected day or hour)")
        self.granularity: Granularity = granularity
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)

    def __repr__(self) -> str:
        return f"PartitionScheme({self.granularity!r}, {self.timezone!r})"

    @cached_property
    def expected_format(self) -> str:
        return "YYYY-MM-DD" if self.granularity == "day" else "YYYY-MM-DDTHH"

    # --- parsing -------------------------------------------------------------------------------

    def parse_partition_key(self, key: str) -> datetime:
        """Return the naive local wall-clock start of `key`; raise ValueError if it is not a key."""
        kind = "date" if self.granularity == "day" else "hour"
        pattern = _DAY_RE if self.granularity == "day" else _HOUR_RE
        try:
            if not pattern.match(key):
                raise ValueError
            wall = datetime.fromisoformat(key if self.granularity == "hour" else key + "T00")
        except (ValueError, TypeError):
            raise ValueError(
                f"partition_key {key!r} is not a{'n' if kind == 'hour' else ''} {kind} "
                f"(expected {self.expected_format})"
            ) from None
        if self.granularity == "hour" and not self._exists(wall):
            raise ValueError(
                f"partition_key {key!r} does not exist in {self.timezone} "
                "(skipped by a daylight-saving change)"
            )
        return wall

    def validate_range(self, key_range: PartitionKeyRange) -> PartitionKeyRange:
        """Check both bounds' format and order. A bound may be an hour skipped by DST: it only
        delimits the range (so a chunk "T00".."T23" works on every day)."""
        self._parse_bound(key_range.start)
        self._parse_bound(key_range.end)
        if key_range.start > key_range.end:
            raise ValueError(
                f"start {key_range.start!r} is after end {key_range.end!r} (expected start <= end)"
            )
        return key_range

    def _parse_bound(self, key: str) -> None:
        try:
            self.parse_partition_key(key)
        except ValueError as err:
            if "does not exist" not in str(err):
                raise

    # --- enumeration ---------------------------------------------------------------------------

    def get_partition_keys(self, key_range: PartitionKeyRange, order: Order = "asc") -> list[str]:
        """All keys in the inclusive range, ascending or descending."""
        self.validate_range(key_range)
        first = date.fromisoformat(key_range.start[:10])
        last = date.fromisoformat(key_range.end[:10])
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        if self.granularity == "day":
            keys = [d.isoformat() for d in days]
        else:
            keys = []
            for d in days:
                prefix = d.isoformat() + "T"
                keys.extend(prefix + f"{h:02d}" for h in self._hours_of(d))
            lo = bisect.bisect_left(keys, key_range.start)
            hi = bisect.bisect_right(keys, key_range.end)
            keys = keys[lo:hi]
        if order == "desc":
            keys.reverse()
        return keys

    def num_partitions(self, key_range: PartitionKeyRange) -> int:
        return len(self.get_partition_keys(key_range))

    def _hours_of(self, day: date) -> range | list[int]:
        start, end = self._day_bounds(day)
        if end - start == _DAY:
            return range(24)
        base = datetime(day.year, day.month, day.day)
        return [h for h in range(24) if self._exists(base.replace(hour=h))]

    # --- time ----------------------------------------------------------------------------------

    def get_partition_bounds(self, key: str) -> tuple[datetime, datetime]:
        """The half-open UTC interval [start, end) that partition `key` covers."""
        wall = self.parse_partition_key(key)
        if self.granularity == "day":
            return self._day_bounds(wall.date())
        nxt = wall + timedelta(hours=1)
        while not self._exists(nxt):
            nxt += timedelta(hours=1)
        return self._to_utc(wall), self._to_utc(nxt)

    def get_partition_date(self, key: str) -> date:
        """The local calendar date a key falls on."""
        return self.parse_partition_key(key).date()

    def get_partition_key_for_time(self, instant: datetime) -> str:
        """The key of the partition containing an aware instant."""
        if instant.tzinfo is None:
            raise ValueError(
                f"instant {instant.isoformat()} has no timezone (expected an aware time)"
            )
        local = instant.astimezone(self.tz)
        return local.strftime("%Y-%m-%d" if self.granularity == "day" else "%Y-%m-%dT%H")

    def get_partition_key_for_schedule_time(self, schedule_time: datetime, lag: int = 1) -> str:
        """The key a scheduled run processes: `lag` partitions before the one containing it.

        With lag 1, a daily 02:00 schedule processes yesterday. The same schedule time always
        gives the same key.
        """
        return self.get_previous_key(self.get_partition_key_for_time(schedule_time), lag)

    def get_previous_key(self, key: str, n: int = 1) -> str:
        """The key `n` partitions before `key` (n >= 0)."""
        wall = self.parse_partition_key(key)
        if self.granularity == "day":
            return (wall.date() - timedelta(days=n)).isoformat()
        for _ in range(n):
            wall -= timedelta(hours=1)
            while not self._exists(wall):
                wall -= timedelta(hours=1)
        return wall.strftime("%Y-%m-%dT%H")

    def _day_bounds(self, day: date) -> tuple[datetime, datetime]:
        start = datetime(day.year, day.month, day.day)
        return self._to_utc(start), self._to_utc(start + _DAY)

    def _to_utc(self, wall: datetime) -> datetime:
        # fold=0: a repeated wall time means its first occurrence.
        return wall.replace(tzinfo=self.tz).astimezone(UTC)

    def _exists(self, hour: datetime) -> bool:
        """Whether any of the wall-clock hour starting at `hour` exists (zones such as
        Australia/Lord_Howe shift by 30 minutes, so an hour can exist in part)."""
        return self._wall_exists(hour) or self._wall_exists(hour + timedelta(minutes=59))

    def _wall_exists(self, wall: datetime) -> bool:
        # A wall time in a spring-forward gap does not survive the round trip through UTC.
        back = self._to_utc(wall).astimezone(self.tz).replace(tzinfo=None)
        return back == wall


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (as in `X-CloudScheduler-ScheduleTime`) to an aware datetime."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(
            f"timestamp {value!r} is not RFC 3339 with an offset "
            "(expected e.g. 2024-01-02T01:00:00Z)"
        )
    return parsed
