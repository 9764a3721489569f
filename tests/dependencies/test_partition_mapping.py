"""Partition mappings between pipelines (dayflow.partition_mapping), over DST days."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dayflow.partition_mapping import PartitionMapping, check_mapping, infer_mapping
from dayflow.partitions import PartitionKeyRange, PartitionScheme

NY = "America/New_York"
HOURLY = PartitionScheme("hour", NY)
DAILY = PartitionScheme("day", NY)


def hours_of_day(start: str = "2020-01-01T00") -> PartitionMapping:
    return PartitionMapping("hours_of_day", HOURLY, DAILY, start)


def test_hours_of_day_spring_forward_has_23_hours_without_the_skipped_one() -> None:
    keys = hours_of_day().get_upstream_keys("2024-03-10")
    assert len(keys) == 23
    assert "2024-03-10T02" not in keys
    assert keys[0] == "2024-03-10T00" and keys[-1] == "2024-03-10T23"


def test_hours_of_day_fall_back_covers_25_real_hours() -> None:
    # The repeated 01:00 is one partition spanning two real hours (dayflow.partitions), so the
    # 25 hours of 2024-11-03 are 24 keys whose bounds tile the day.
    keys = hours_of_day().get_upstream_keys("2024-11-03")
    assert len(keys) == 24
    bounds = [HOURLY.get_partition_bounds(k) for k in keys]
    assert sum(((e - s) for s, e in bounds), timedelta()) == timedelta(hours=25)
    assert bounds[0][0] == DAILY.get_partition_bounds("2024-11-03")[0]
    assert bounds[-1][1] == DAILY.get_partition_bounds("2024-11-03")[1]


@settings(max_examples=60, deadline=None)
@given(
    day=st.dates(date(2000, 1, 1), date(2035, 12, 31)),
    timezone=st.sampled_from([NY, "Europe/Stockholm", "Australia/Lord_Howe", "UTC"]),
)
def test_hours_of_day_tile_the_local_day(day: date, timezone: str) -> None:
    hourly, daily = PartitionScheme("hour", timezone), PartitionScheme("day", timezone)
    mapping = PartitionMapping("hours_of_day", hourly, daily, "1990-01-01T00")
    keys = mapping.get_upstream_keys(day.isoformat())
    bounds = [hourly.get_partition_bounds(k) for k in keys]
    assert (bounds[0][0], bounds[-1][1]) == daily.get_partition_bounds(day.isoformat())
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    # ... and each hour maps back to that day.
    back = PartitionMapping("day_of_hour", daily, hourly, "1990-01-01")
    assert {tuple(back.get_upstream_keys(k)) for k in keys} == {(day.isoformat(),)}


def test_day_of_hour_is_the_hours_local_day() -> None:
    mapping = PartitionMapping("day_of_hour", DAILY, HOURLY, "2020-01-01")
    assert mapping.get_upstream_keys("2024-11-03T01") == ["2024-11-03"]
    assert mapping.get_upstream_keys("2024-03-10T23") == ["2024-03-10"]


def test_identity_is_the_same_key() -> None:
    assert PartitionMapping("identity", DAILY, DAILY, "2020-01-01").get_upstream_keys(
        "2024-03-10"
    ) == ["2024-03-10"]


def test_window_ends_at_the_key_and_skips_the_dst_gap() -> None:
    daily = PartitionMapping("window", DAILY, DAILY, "2020-01-01", window=3)
    assert daily.get_upstream_keys("2024-03-01") == ["2024-02-28", "2024-02-29", "2024-03-01"]
    hourly = PartitionMapping("window", HOURLY, HOURLY, "2020-01-01T00", window=3)
    assert hourly.get_upstream_keys("2024-03-10T03") == [
        "2024-03-10T00",
        "2024-03-10T01",
        "2024-03-10T03",
    ]


def test_upstream_keys_before_the_upstream_start_are_not_required() -> None:
    assert hours_of_day("2024-03-10T20").get_upstream_keys("2024-03-10") == [
        "2024-03-10T20",
        "2024-03-10T21",
        "2024-03-10T22",
        "2024-03-10T23",
    ]
    assert hours_of_day("2024-03-11T00").get_upstream_keys("2024-03-10") == []
    window = PartitionMapping("window", DAILY, DAILY, "2024-03-09", window=7)
    assert window.get_upstream_keys("2024-03-10") == ["2024-03-09", "2024-03-10"]


def test_upstream_range_of_a_downstream_range() -> None:
    assert hours_of_day().get_upstream_range(
        PartitionKeyRange("2024-03-09", "2024-03-10")
    ) == PartitionKeyRange("2024-03-09T00", "2024-03-10T23")
    assert (
        hours_of_day("2030-01-01T00").get_upstream_range(
            PartitionKeyRange("2024-03-09", "2024-03-10")
        )
        is None
    )


def test_a_key_of_the_wrong_granularity_is_refused() -> None:
    with pytest.raises(ValueError, match=r"partition_key '2024-03-10T05' is not a date"):
        hours_of_day().get_upstream_keys("2024-03-10T05")


@pytest.mark.parametrize(
    ("upstream", "downstream", "expected"),
    [("hour", "day", "hours_of_day"), ("day", "hour", "day_of_hour"), ("day", "day", "identity")],
)
def test_mapping_is_inferred_from_granularities(
    upstream: str, downstream: str, expected: str
) -> None:
    assert infer_mapping(upstream, downstream) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "upstream", "downstream", "window", "expected"),
    [
        ("identity", "hour", "day", None,
         "mapping 'identity' cannot map a daily pipeline onto an hourly upstream "
         "(expected 'hours_of_day')"),
        ("hours_of_day", "day", "day", None,
         "mapping 'hours_of_day' cannot map a daily pipeline onto a daily upstream "
         "(expected 'identity' or 'window')"),
        ("day_of_hour", "hour", "day", None,
         "mapping 'day_of_hour' cannot map a daily pipeline onto an hourly upstream "
         "(expected 'hours_of_day')"),
        ("window", "hour", "day", 3,
         "mapping 'window' cannot map a daily pipeline onto an hourly upstream "
         "(expected 'hours_of_day')"),
        ("window", "day", "day", None,
         "mapping 'window' needs `window: N`, the number of partitions (expected N >= 1)"),
        ("identity", "day", "day", 3,
         "`window` applies to mapping 'window' only (got mapping 'identity')"),
    ],
)  # fmt: skip
def test_incompatible_mappings_are_refused(
    kind: str, upstream: str, downstream: str, window: int | None, expected: str
) -> None:
    assert check_mapping(kind, upstream, downstream, window) == expected  # type: ignore[arg-type]
