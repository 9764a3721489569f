"""Freshness from the run ledger's states (dayflow.freshness): pure rules, no services."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from dayflow.freshness import format_age, get_freshness
from dayflow.ledger import RunState
from dayflow.spec import Pipeline
from dayflow.spec_alerts import Alerts, parse_duration

NOW = datetime(2024, 1, 7, 3, 0, tzinfo=UTC)


def pipeline(granularity: str = "day", freshness: str | None = "28h") -> Pipeline:
    job = {"kind": "bigquery_sql", "sql": "a.sql",
           "destination": {"dataset": "d", "table": "t", "partition_field": "p",
                           "partition_type": "DATE" if granularity == "day" else "TIMESTAMP"}}  # fmt: skip
    return Pipeline.model_validate(
        {"granularity": granularity, "timezone": "Europe/Stockholm", "schedule": "0 2 * * *",
         "start": "2024-01-01", "jobs": {"a": job, "b": {**job, "depends_on": ["a"]}},
         "alerts": {"freshness": freshness} if freshness else None}
    )  # fmt: skip


def state(key: str, job: str, status: str = "succeeded") -> RunState:
    return RunState(key, job, status, 1, None, 1, None, NOW)  # type: ignore[arg-type]


def test_the_newest_partition_whose_every_job_succeeded_is_the_fresh_one() -> None:
    states = [state("2024-01-05", "a"), state("2024-01-05", "b"),
              state("2024-01-06", "a"), state("2024-01-06", "b", "failed")]  # fmt: skip
    freshness = get_freshness("p", pipeline(), states, NOW)
    assert freshness.newest_partition_key == "2024-01-05"
    # 2024-01-05 ends at local midnight, 2024-01-05T23:00Z (Stockholm is UTC+1 in January)
    assert freshness.newest_partition_end == datetime(2024, 1, 5, 23, 0, tzinfo=UTC)
    assert freshness.age == timedelta(hours=28)
    assert freshness.stale is False  # exactly the limit is still fresh
    assert freshness.describe() == "newest 2024-01-05, 28h old (limit 28h)"


def test_older_than_the_limit_is_stale_and_no_partition_at_all_is_stale() -> None:
    states = [state("2024-01-05", "a"), state("2024-01-05", "b")]
    assert get_freshness("p", pipeline(), states, NOW + timedelta(minutes=1)).stale is True
    nothing = get_freshness("p", pipeline(), [], NOW)
    assert (nothing.stale, nothing.age, nothing.newest_partition_key) == (True, None, None)
    assert nothing.describe() == "no complete partition in the last 7 days (limit 28h)"


def test_without_a_declared_limit_freshness_is_reported_but_never_stale() -> None:
    freshness = get_freshness("p", pipeline(freshness=None), [], NOW)
    assert freshness.stale is None
    assert freshness.to_public()["limit_seconds"] is None


def test_an_hourly_partition_ages_from_its_end_across_the_fall_back_hour() -> None:
    # Stockholm 2024-10-27T02 is the repeated hour: one partition of two real hours, 00:00Z-02:00Z
    hourly = pipeline("hour", "3h")
    states = [state("2024-10-27T02", "a"), state("2024-10-27T02", "b")]
    freshness = get_freshness("p", hourly, states, datetime(2024, 10, 27, 4, 30, tzinfo=UTC))
    assert freshness.newest_partition_end == datetime(2024, 10, 27, 2, 0, tzinfo=UTC)
    assert freshness.age == timedelta(hours=2, minutes=30)
    assert freshness.stale is False


@pytest.mark.parametrize(
    ("value", "expected"), [("90m", timedelta(minutes=90)), ("28h", timedelta(hours=28)),
                            ("2d", timedelta(days=2))]
)  # fmt: skip
def test_durations_read_minutes_hours_and_days(value: str, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["0h", "26", "1.5h", "26 h", "1w"])
def test_a_bad_freshness_limit_is_refused_naming_it(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"duration {value!r} is not a positive")):
        Alerts(freshness=value)


def test_ages_read_at_a_glance() -> None:
    minutes = (12, 62, 60 * 26 + 5, 60 * 28, 60 * 75)
    assert [format_age(timedelta(minutes=m)) for m in minutes] == [
        "12m", "1h 2m", "26h 5m", "28h", "3d 3h"]  # fmt: skip
