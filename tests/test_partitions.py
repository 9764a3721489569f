from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dayflow.partitions import PartitionKeyRange, PartitionScheme, parse_timestamp

DST_ZONES = [
    "Europe/Stockholm",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "UTC",
]
STOCKHOLM_HOURLY = PartitionScheme("hour", "Europe/Stockholm")
STOCKHOLM_DAILY = PartitionScheme("day", "Europe/Stockholm")


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(DST_ZONES),
    first=st.dates(min_value=date(2000, 1, 1), max_value=date(2035, 12, 1)),
    days=st.integers(min_value=0, max_value=40),
)
def test_hourly_partitions_tile_time_without_gaps_or_overlaps(
    zone: str, first: date, days: int
) -> None:
    scheme = PartitionScheme("hour", zone)
    last = first + timedelta(days=days)
    keys = scheme.get_partition_keys(
        PartitionKeyRange(
            f"{first}T00",
            scheme.get_partition_keys(PartitionKeyRange(f"{last}T00", f"{last}T23"))[-1],
        )
    )
    assert keys == sorted(set(keys))
    bounds = [scheme.get_partition_bounds(k) for k in keys]
    for (_, end), (start, _) in itertools.pairwise(bounds):
        assert end == start
    day_start, _ = scheme._day_bounds(first)
    _, day_end = scheme._day_bounds(last)
    assert bounds[0][0] == day_start and bounds[-1][1] == day_end
    for key, (start, end) in zip(keys, bounds, strict=True):
        assert start < end <= start + timedelta(hours=2)
        assert scheme.get_partition_key_for_time(start) == key
        assert scheme.get_partition_key_for_time(end - timedelta(microseconds=1)) == key


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(DST_ZONES),
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2035, 12, 31)),
)
def test_daily_partition_spans_local_midnight_to_midnight(zone: str, day: date) -> None:
    scheme = PartitionScheme("day", zone)
    start, end = scheme.get_partition_bounds(day.isoformat())
    assert timedelta(hours=22) <= end - start <= timedelta(hours=26)
    assert scheme.get_partition_key_for_time(start) == day.isoformat()
    assert scheme.get_partition_key_for_time(end) == (day + timedelta(days=1)).isoformat()


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(DST_ZONES),
    instant=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
)
def test_schedule_time_always_gives_the_same_key_and_it_is_complete(
    zone: str, instant: datetime
) -> None:
    for granularity in ("day", "hour"):
        scheme = PartitionScheme(granularity, zone)  # type: ignore[arg-type]
        key = scheme.get_partition_key_for_schedule_time(instant)
        assert key == scheme.get_partition_key_for_schedule_time(instant)
        _, end = scheme.get_partition_bounds(key)
        assert end <= instant  # lag 1: the partition is over when it is processed


def test_daily_0200_stockholm_schedule_processes_yesterday() -> None:
    # 02:00 CET on 2024-01-02 is 01:00 UTC; in summer (CEST) it is 00:00 UTC.
    assert (
        STOCKHOLM_DAILY.get_partition_key_for_schedule_time(parse_timestamp("2024-01-02T01:00:00Z"))
        == "2024-01-01"
    )
    assert (
        STOCKHOLM_DAILY.get_partition_key_for_schedule_time(parse_timestamp("2024-07-02T00:00:00Z"))
        == "2024-07-01"
    )


def test_spring_forward_day_has_23_hourly_partitions_and_no_0200() -> None:
    keys = STOCKHOLM_HOURLY.get_partition_keys(PartitionKeyRange("2024-03-31T00", "2024-03-31T23"))
    assert len(keys) == 23 and "2024-03-31T02" not in keys
    with pytest.raises(
        ValueError,
        match=re.escape("partition_key '2024-03-31T02' does not exist in Europe/Stockholm"),
    ):
        STOCKHOLM_HOURLY.parse_partition_key("2024-03-31T02")


def test_fall_back_repeated_hour_is_one_partition_of_two_hours() -> None:
    keys = STOCKHOLM_HOURLY.get_partition_keys(PartitionKeyRange("2024-10-27T00", "2024-10-27T23"))
    assert len(keys) == 24
    start, end = STOCKHOLM_HOURLY.get_partition_bounds("2024-10-27T02")
    assert (start, end) == (
        datetime(2024, 10, 27, 0, tzinfo=UTC),
        datetime(2024, 10, 27, 2, tzinfo=UTC),
    )


def test_descending_order_reverses_keys() -> None:
    key_range = PartitionKeyRange("2024-01-01", "2024-01-03")
    assert STOCKHOLM_DAILY.get_partition_keys(key_range, "desc") == [
        "2024-01-03",
        "2024-01-02",
        "2024-01-01",
    ]


def test_ten_year_hourly_range_in_utc_has_87672_partitions() -> None:
    scheme = PartitionScheme("hour", "UTC")
    assert scheme.num_partitions(PartitionKeyRange("2015-01-01T00", "2024-12-31T23")) == 87_672


@pytest.mark.parametrize(
    ("scheme", "key", "message"),
    [
        (
            STOCKHOLM_DAILY,
            "2024-13-01",
            "partition_key '2024-13-01' is not a date (expected YYYY-MM-DD)",
        ),
        (
            STOCKHOLM_DAILY,
            "2024-01-01T05",
            "partition_key '2024-01-01T05' is not a date (expected YYYY-MM-DD)",
        ),
        (
            STOCKHOLM_HOURLY,
            "2024-01-01",
            "partition_key '2024-01-01' is not an hour (expected YYYY-MM-DDTHH)",
        ),
        (
            STOCKHOLM_HOURLY,
            "2024-01-01T24",
            "partition_key '2024-01-01T24' is not an hour (expected YYYY-MM-DDTHH)",
        ),
    ],
)
def test_bad_partition_keys_name_the_value_and_the_format(
    scheme: PartitionScheme, key: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        scheme.parse_partition_key(key)


def test_reversed_range_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=re.escape("start '2024-01-05' is after end '2024-01-01' (expected start <= end)"),
    ):
        STOCKHOLM_DAILY.get_partition_keys(PartitionKeyRange("2024-01-05", "2024-01-01"))


def test_schedule_timestamp_without_offset_is_rejected() -> None:
    with pytest.raises(ValueError, match=re.escape("is not RFC 3339 with an offset")):
        parse_timestamp("2024-01-02T01:00:00")


def test_a_dst_skipped_hour_may_bound_a_range() -> None:
    keys = STOCKHOLM_HOURLY.get_partition_keys(PartitionKeyRange("2024-03-31T02", "2024-03-31T04"))
    assert keys == ["2024-03-31T03", "2024-03-31T04"]
