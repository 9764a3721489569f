"""Partition mappings: which partitions of an upstream pipeline a downstream partition needs.

A job may depend on a job of another pipeline of the same spec (`depends_on: [{pipeline,
job, mapping}]`). Both pipelines must share a timezone, so a key reads as the same local time on
both sides. The mappings, from a downstream `partition_key` to upstream keys:

- `identity`: the same key (both pipelines of one granularity);
- `hours_of_day` (hourly upstream, daily downstream): every local hour of that local day: 24,
  or 23 and 25 on the days of a daylight-saving change (`PartitionScheme` states those rules);
- `day_of_hour` (daily upstream, hourly downstream): the local day the hour falls on;
- `window` (one granularity, `window: N`): the last N partitions ending at, and including, the
  key (a 7-day window of 2024-03-10 is 2024-03-04..2024-03-10).

Upstream keys before the upstream pipeline's `start` do not exist, so they are not required: a
window near the start needs fewer partitions, and a downstream partition before the upstream's
start needs none.

Pure functions over `PartitionScheme`: no spec, no ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dayflow.partitions import Granularity, PartitionKeyRange, PartitionScheme

MappingKind = Literal["identity", "hours_of_day", "day_of_hour", "window"]
MAPPING_KINDS: tuple[MappingKind, ...] = ("identity", "hours_of_day", "day_of_hour", "window")
# The granularities (upstream, downstream) each mapping joins.
_GRANULARITIES: dict[MappingKind, tuple[tuple[Granularity, Granularity], ...]] = {
    "identity": (("day", "day"), ("hour", "hour")),
    "hours_of_day": (("hour", "day"),),
    "day_of_hour": (("day", "hour"),),
    "window": (("day", "day"), ("hour", "hour")),
}


def infer_mapping(upstream: Granularity, downstream: Granularity) -> MappingKind:
    """The mapping a dependency without `mapping` gets: identity between pipelines of one
    granularity, hours_of_day from hourly to daily, day_of_hour from daily to hourly."""
    if upstream == downstream:
        return "identity"
    return "hours_of_day" if upstream == "hour" else "day_of_hour"


def check_mapping(
    kind: MappingKind, upstream: Granularity, downstream: Granularity, window: int | None
) -> str | None:
    """Why `kind` cannot map a `downstream` pipeline onto an `upstream` one, or None."""
    if (upstream, downstream) not in _GRANULARITIES[kind]:
        expected = infer_mapping(upstream, downstream)
        return (
            f"mapping {kind!r} cannot map {_NAMES[downstream]} pipeline onto "
            f"{_NAMES[upstream]} upstream (expected {expected!r}"
            + (" or 'window'" if expected == "identity" else "")
            + ")"
        )
    if kind == "window" and window is None:
        return "mapping 'window' needs `window: N`, the number of partitions (expected N >= 1)"
    if kind != "window" and window is not None:
        return f"`window` applies to mapping 'window' only (got mapping {kind!r})"
    return None


_NAMES: dict[Granularity, str] = {"day": "a daily", "hour": "an hourly"}


@dataclass(frozen=True, slots=True)
class PartitionMapping:
    """How keys of a downstream pipeline map to keys of an upstream one (checked already)."""

    kind: MappingKind
    upstream: PartitionScheme
    downstream: PartitionScheme
    # The upstream pipeline's first key: keys before it are not required.
    upstream_start: str
    window: int | None = None

    def get_upstream_keys(self, partition_key: str) -> list[str]:
        """The upstream keys a downstream partition needs, ascending.

        Raises:
            ValueError: `partition_key` is not a key of the downstream pipeline.
        """
        self.downstream.parse_partition_key(partition_key)
        if self.kind == "identity":
            keys = [partition_key]
        elif self.kind == "hours_of_day":
            day = partition_key
            keys = self.upstream.get_partition_keys(PartitionKeyRange(day + "T00", day + "T23"))
        elif self.kind == "day_of_hour":
            keys = [partition_key[:10]]
        else:
            assert self.window is not None
            first = self.upstream.get_previous_key(partition_key, self.window - 1)
            keys = self.upstream.get_partition_keys(PartitionKeyRange(first, partition_key))
        return [k for k in keys if k >= self.upstream_start]

    def get_upstream_range(self, key_range: PartitionKeyRange) -> PartitionKeyRange | None:
        """The upstream keys a downstream range needs, as one inclusive range (None: none).

        Every mapping is monotonic, so the range runs from the first key's first upstream key
        to the last key's last one.
        """
        keys = self.downstream.get_partition_keys(key_range)
        if not keys:
            return None
        first = next((u for k in keys if (u := self.get_upstream_keys(k))), None)
        last = next((u for k in reversed(keys) if (u := self.get_upstream_keys(k))), None)
        if first is None or last is None:
            return None
        return PartitionKeyRange(first[0], last[-1])
