"""A pipeline's partition bounds, range caps and schedule-time checks (no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from dayflow.errors import UserError
from dayflow.partition_bounds import (
    check_partition_key,
    check_partition_keys,
    check_partition_range,
    get_partition_bounds,
    parse_schedule_time,
)
from dayflow.partitions import PartitionKeyRange
from dayflow.spec import Pipeline

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


def pipeline(granularity: str = "day", lag: int = 1) -> Pipeline:
    return Pipeline.model_validate(
        {
            "granularity": granularity,
            "timezone": "Europe/Stockholm",
            "schedule": "0 2 * * *",
            "start": "2024-01-01" if granularity == "day" else "2024-01-01T00",
            "lag": lag,
            "jobs": {"a": {"kind": "bigquery_sql", "sql": "a.sql", "destination": {
                "dataset": "d", "table": "t", "partition_field": "f",
                "partition_type": "DATE" if granularity == "day" else "TIMESTAMP"}}},
        }
    )  # fmt: skip


def test_bounds_run_from_start_to_the_partition_containing_now() -> None:
    bounds = get_partition_bounds("p", pipeline(), NOW)
    assert (bounds.first, bounds.last) == ("2024-01-01", "2024-03-10")
    hourly = get_partition_bounds("p", pipeline("hour"), NOW)
    assert hourly.last == "2024-03-10T13"  # 12:00 UTC is 13:00 in Stockholm


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("0001-01-01", "partition_key '0001-01-01' is before pipeline 'p' starts (expected "
         "2024-01-01 or later)"),
        ("9999-12-31", "partition_key '9999-12-31' is after the newest partition of pipeline "
         "'p' (expected 2024-03-10 or earlier, the partition containing now)"),
        ("2024-02-30", "partition_key '2024-02-30' is not a date (expected YYYY-MM-DD)"),
    ],
)  # fmt: skip
def test_a_key_outside_the_bounds_names_the_bound(key: str, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        check_partition_key("p", pipeline(), key, NOW)


def test_a_range_is_checked_for_bounds_and_length_before_it_is_listed() -> None:
    days = pipeline()
    assert check_partition_range("p", days, PartitionKeyRange("2024-01-01", "2024-01-10"), 10, NOW)
    with pytest.raises(UserError, match=re.escape("covers 11 partitions (expected at most 10")):
        check_partition_range("p", days, PartitionKeyRange("2024-01-01", "2024-01-11"), 10, NOW)
    with pytest.raises(UserError, match=re.escape("end '9999-12-30' is after the newest")):
        check_partition_range("p", days, PartitionKeyRange("2024-01-01", "9999-12-30"), 10, NOW)
    with pytest.raises(UserError, match=re.escape("start '0002-01-01' is before pipeline")):
        check_partition_range("p", days, PartitionKeyRange("0002-01-01", "2024-01-01"), 10, NOW)
    hours = pipeline("hour")
    with pytest.raises(UserError, match="covers 48 partitions"):
        check_partition_range(
            "p", hours, PartitionKeyRange("2024-01-01T00", "2024-01-02T23"), 24, NOW
        )
    with pytest.raises(UserError, match="3 partition keys"):
        check_partition_keys("p", days, ["2024-01-01", "2024-01-02", "2024-01-03"], 2, NOW)


def test_schedule_times_are_rfc3339_not_too_far_ahead_and_not_before_start() -> None:
    days = pipeline()
    assert parse_schedule_time("p", days, "2024-03-10T01:00:00Z", NOW)[1] == "2024-03-09"
    # Scheduler's nanoseconds and lower-case separators are RFC 3339 too.
    assert parse_schedule_time("p", days, "2024-03-10t01:00:00.123456789z", NOW)[1] == "2024-03-09"
    assert parse_schedule_time("p", days, "2024-03-10T12:14:00Z", NOW)[1] == "2024-03-09"
    with pytest.raises(UserError, match="is in the future"):
        parse_schedule_time("p", days, "2024-03-10T12:16:00Z", NOW)
    with pytest.raises(UserError, match="processes partition '2023-12-31', before pipeline"):
        parse_schedule_time("p", days, "2024-01-01T00:00:00+01:00", NOW)
    for bad in ("2024-03-10", "2024-03-10T01:00:00", "2024-03-10T01:00Z", "20240310T010000Z"):
        with pytest.raises(UserError, match="is not an RFC 3339 time"):
            parse_schedule_time("p", days, bad, NOW)
