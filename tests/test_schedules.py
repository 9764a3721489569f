"""A pipeline's Cloud Scheduler job (dayflow.schedules) and the local scheduler that runs it
(dayflow.local.scheduler), in virtual time: fire times across DST, retries, pause and resume,
state kept across restarts. The target is a fake HTTP server (httpx.MockTransport) at the
network boundary; tests/cli/test_schedule_commands.py fires at a real job-runner.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from dayflow.local.scheduler import OK, UNAVAILABLE, LocalScheduler
from dayflow.partitions import PartitionScheme
from dayflow.schedules import (
    RetryPolicy,
    get_fire_times,
    get_next_fire_time,
    get_scheduler_job_name,
    make_scheduler_job,
)

NEW_YORK = ZoneInfo("America/New_York")
RUNNER = "http://127.0.0.1:1"  # never dialled: the MockTransport answers


def local(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int = 0,
    *,
    tz: ZoneInfo = NEW_YORK,
    fold: int = 0,
) -> datetime:
    wall = datetime(year, month, day, hour, minute, tzinfo=tz, fold=fold)
    return wall.astimezone(UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.time = start

    def now(self) -> datetime:
        return self.time


class Target:
    """A fake job-runner: records each request and answers with the next planned status."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status, json={"status": status})

    @property
    def schedule_times(self) -> list[str]:
        return [r.headers["X-CloudScheduler-ScheduleTime"] for r in self.requests]


def make_scheduler(
    target: Target, clock: Clock, schedule: str = "0 * * * *", state_file: Path | None = None
) -> LocalScheduler:
    job = make_scheduler_job("meter_hourly", schedule, "America/New_York", paused=True)
    return LocalScheduler(
        [job],
        RUNNER,
        state_file=state_file,
        clock=clock,
        http=httpx.Client(transport=httpx.MockTransport(target)),
    )


# --- fire times --------------------------------------------------------------------------------


def test_hourly_schedule_skips_the_spring_forward_hour() -> None:
    times = get_fire_times(
        "0 * * * *", "America/New_York", local(2024, 3, 10, 0, 30), local(2024, 3, 10, 5, 30)
    )
    walls = [t.astimezone(NEW_YORK).strftime("%H:%M %Z") for t in times]
    assert walls == ["01:00 EST", "03:00 EDT", "04:00 EDT", "05:00 EDT"]


def test_hourly_schedule_fires_at_both_instants_of_the_repeated_hour() -> None:
    times = get_fire_times(
        "0 * * * *", "America/New_York", local(2024, 11, 3, 0, 30), local(2024, 11, 3, 3, 30)
    )
    assert [t.strftime("%H:%M") for t in times] == ["05:00", "06:00", "07:00", "08:00"]  # UTC
    # Both 01:00s process the same partition: the job-runner starts it once.
    scheme = PartitionScheme("hour", "America/New_York")
    keys = [scheme.get_partition_key_for_schedule_time(t) for t in times]
    assert keys == ["2024-11-03T00", "2024-11-03T00", "2024-11-03T01", "2024-11-03T02"]


def test_daily_schedule_in_the_skipped_hour_does_not_fire_that_day() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    times = get_fire_times(
        "30 2 * * *", "Europe/Berlin", local(2024, 3, 30, 0, 0, tz=berlin), local(2024, 4, 1, 23, 0, tz=berlin)
    )  # fmt: skip
    assert [t.astimezone(berlin).strftime("%m-%d %H:%M") for t in times] == [
        "03-30 02:30",
        "04-01 02:30",
    ]


def test_a_schedule_that_never_fires_has_no_next_time() -> None:
    assert get_next_fire_time("0 0 31 2 *", "UTC", datetime(2024, 1, 1, tzinfo=UTC)) is None


def test_retry_backoff_doubles_then_grows_linearly_up_to_the_maximum() -> None:
    # The example of https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#RetryConfig
    policy = RetryPolicy(retry_count=5, min_backoff=timedelta(seconds=10))
    waits = [policy.get_backoff(n).total_seconds() for n in range(1, 9)]
    assert waits == [10, 20, 40, 80, 160, 240, 300, 300]


def test_job_is_named_for_its_pipeline() -> None:
    job = make_scheduler_job("shop_daily", "0 2 * * *", "Europe/Stockholm", paused=False)
    assert job.job_id == get_scheduler_job_name("shop_daily") == "dayflow-shop-daily"
    assert job.get_uri("http://runner/") == "http://runner/triggers/shop_daily"
    with pytest.raises(ValueError, match=re.escape("minute 70 is out of range")):
        make_scheduler_job("shop_daily", "70 * * * *", "UTC", paused=False)


# --- the local scheduler -----------------------------------------------------------------------


def test_scheduler_posts_cloud_schedulers_headers_once_resumed() -> None:
    target, clock = Target(), Clock(local(2024, 3, 10, 0, 30))
    scheduler = make_scheduler(target, clock)
    clock.time = local(2024, 3, 10, 1, 30)
    assert scheduler.run_pending() == []  # jobs start paused
    scheduler.resume("dayflow-meter-hourly")
    clock.time = local(2024, 3, 10, 4, 30)
    assert len(scheduler.run_pending()) == 2
    request = target.requests[0]
    assert (request.method, str(request.url)) == ("POST", f"{RUNNER}/triggers/meter_hourly")
    assert request.headers["X-CloudScheduler"] == "true"
    assert request.headers["X-CloudScheduler-JobName"] == "dayflow-meter-hourly"
    # Resumed at 01:30 EST: the next hour on the clock is 03:00 EDT, then 04:00 EDT.
    assert target.schedule_times == ["2024-03-10T07:00:00Z", "2024-03-10T08:00:00Z"]


def test_failed_attempt_is_retried_with_backoff_and_the_same_schedule_time() -> None:
    target, clock = Target(503, 503), Clock(local(2024, 6, 1, 0, 30))
    scheduler = make_scheduler(target, clock)
    scheduler.resume("dayflow-meter-hourly")
    clock.time = local(2024, 6, 1, 1, 0)
    assert [d.status.code for d in scheduler.run_pending()] == [UNAVAILABLE]
    job = scheduler.get_job("dayflow-meter-hourly")
    assert job.schedule_time == clock.time + timedelta(seconds=10)
    assert job.status is not None and job.status.message.startswith("HTTP 503")
    for wait in (10, 20):  # the first retry after 10 s, the second 20 s later
        clock.time += timedelta(seconds=wait - 1)
        assert scheduler.run_pending() == []
        clock.time += timedelta(seconds=1)
        assert len(scheduler.run_pending()) == 1
    assert target.schedule_times == ["2024-06-01T05:00:00Z"] * 3
    assert [d.retry for d in scheduler.deliveries] == [0, 1, 2]
    assert scheduler.get_job("dayflow-meter-hourly").status.code == OK  # type: ignore[union-attr]


def test_retries_stop_at_retry_count_and_at_the_next_scheduled_time() -> None:
    target, clock = Target(*[500] * 20), Clock(local(2024, 6, 1, 0, 30))
    scheduler = make_scheduler(target, clock, schedule="*/1 * * * *")
    scheduler.resume("dayflow-meter-hourly")
    clock.time = local(2024, 6, 1, 0, 31)
    scheduler.run_pending()
    clock.time += timedelta(seconds=55)  # the retry due at +10 s, then +30 s; the next at +60 s
    scheduler.run_pending()
    assert [d.retry for d in scheduler.deliveries] == [0, 1, 2]
    clock.time += timedelta(seconds=5)
    scheduler.run_pending()  # the next scheduled time supersedes the third retry (due at +70 s)
    assert [d.retry for d in scheduler.deliveries] == [0, 1, 2, 0]
    assert target.schedule_times[-1] == "2024-06-01T04:32:00Z"


def test_pause_run_and_state_survive_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "scheduler" / "jobs.json"
    target, clock = Target(), Clock(local(2024, 6, 1, 0, 30))
    scheduler = make_scheduler(target, clock, state_file=state_file)
    scheduler.resume("dayflow-meter-hourly")
    clock.time = local(2024, 6, 1, 1, 0)
    scheduler.run_pending()
    restarted = make_scheduler(target, clock, state_file=state_file)
    job = restarted.get_job("dayflow-meter-hourly")
    assert not job.paused
    assert job.last_schedule_time == clock.time == job.last_attempt_time
    assert job.schedule_time == local(2024, 6, 1, 2, 0)
    restarted.pause("dayflow-meter-hourly")
    clock.time = local(2024, 6, 1, 5, 0)
    restarted.run("dayflow-meter-hourly")  # a forced run fires even while paused
    assert [d.schedule_time for d in restarted.run_pending()] == [clock.time]
    assert (
        make_scheduler(target, clock, state_file=state_file).get_job("dayflow-meter-hourly").paused
    )


def test_fresh_local_up_forgets_the_schedulers_state(tmp_path: Path) -> None:
    from dayflow.local.stack import erase, get_scheduler_state_file

    state_file = get_scheduler_state_file(tmp_path)
    scheduler = make_scheduler(Target(), Clock(local(2024, 6, 1, 0, 30)), state_file=state_file)
    scheduler.resume("dayflow-meter-hourly")
    assert state_file.is_file()
    erase(tmp_path)  # what `dayflow local up --fresh` does first
    assert not state_file.exists()
