"""The Cloud Scheduler job of a pipeline, defined once: infra deploys it
(`dayflow.infra.components.orchestration`) and the local scheduler (`dayflow.local.scheduler`)
runs it, so the two cannot drift.

A pipeline's job is named `dayflow-<pipeline>`, fires the spec's cron in the spec's time zone,
and POSTs `{job_runner}/triggers/<pipeline>` with no body; Cloud Scheduler adds
`X-CloudScheduler: true`, `X-CloudScheduler-JobName` and `X-CloudScheduler-ScheduleTime`
(https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#HttpTarget).
A failed attempt (no 2xx answer) is retried with the same schedule time (`RetryPolicy`).

When a schedule fires (`get_next_fire_time`): Cloud Scheduler "runs on wall clock time", and
"daylight saving time can cause jobs to run or not run unexpectedly"; a time that occurs twice
"may observe execution anomalies"
(https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules, "Time zone"). dayflow
reads that as: a wall-clock time skipped by spring-forward never fires, and a wall-clock time
repeated by fall-back fires at both of its instants. That is the worst case a scheduled
pipeline must survive, and it does: the job-runner maps each schedule time to the partition it
processes and starts each partition once (`job_runner.domain.triggers`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from dayflow.cron import check_cron

PREFIX = "dayflow"
# How far before `after` (in wall-clock time) the search for the next fire time starts: the
# second instant of a repeated wall time lies up to this much behind `after`'s wall time (DST
# shifts are one hour in most zones, two at most in the tz database).
_FOLD_REACH = timedelta(hours=3)
# Cron matches looked at before giving up (`0 0 31 2 *` never fires).
_MAX_MATCHES = 10_000


def get_scheduler_job_name(pipeline_name: str) -> str:
    """Cloud Scheduler job id of a pipeline: `dayflow-<pipeline_name>` in kebab case (a job id
    may hold letters, digits, '-' and '_', up to 500 characters: spec names always fit)."""
    kebab = re.sub(r"[^a-z0-9-]+", "-", pipeline_name.lower()).strip("-")
    return f"{PREFIX}-{kebab}"


def get_trigger_path(pipeline_name: str) -> str:
    """The job-runner route a pipeline's schedule calls."""
    return f"/triggers/{pipeline_name}"


@dataclass(frozen=True)
class RetryPolicy:
    """`retry_config` of a Cloud Scheduler job (`google.cloud.scheduler_v1.RetryConfig`).

    A failed attempt is retried `retry_count` times (at most 5), or until the next scheduled
    time, whichever comes first; the waits start at `min_backoff`, double `max_doublings` times,
    then grow linearly by `min_backoff * 2**max_doublings`, capped at `max_backoff`
    (10 s, 300 s and 3 doublings: 10, 20, 40, 80, 160, 240, 300, 300 s).
    """

    retry_count: int = 3
    min_backoff: timedelta = timedelta(seconds=10)
    max_backoff: timedelta = timedelta(seconds=300)
    max_doublings: int = 3

    def __post_init__(self) -> None:
        if not 0 <= self.retry_count <= 5:
            raise ValueError(f"retry_count {self.retry_count} is out of range (expected 0-5)")

    def get_backoff(self, retry: int) -> timedelta:
        """The wait before retry number `retry` (1 for the first retry)."""
        if retry < 1:
            raise ValueError(f"retry {retry} is not a retry number (expected 1 or more)")
        doublings = min(retry - 1, self.max_doublings)
        linear = max(retry - 1 - self.max_doublings, 0)
        wait = (
            self.min_backoff * (2**doublings) + self.min_backoff * (2**self.max_doublings) * linear
        )
        return wait if wait < self.max_backoff else self.max_backoff


@dataclass(frozen=True)
class SchedulerJob:
    """The Cloud Scheduler job that starts a pipeline's scheduled runs."""

    pipeline_name: str
    schedule: str  # 5-field unix cron, read in `time_zone`
    time_zone: str  # IANA name
    paused: bool
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # A trigger only claims its partition and starts an execution: a minute is plenty.
    attempt_deadline: timedelta = timedelta(seconds=60)
    http_method: str = "POST"

    @property
    def job_id(self) -> str:
        return get_scheduler_job_name(self.pipeline_name)

    @property
    def description(self) -> str:
        return f"dayflow: starts pipeline {self.pipeline_name} on its schedule"

    def get_name(self, project: str, location: str) -> str:
        """The job's resource name: `projects/P/locations/L/jobs/dayflow-<pipeline>`."""
        return f"projects/{project}/locations/{location}/jobs/{self.job_id}"

    def get_uri(self, job_runner_url: str) -> str:
        """The URL the job calls: the job-runner's trigger route for this pipeline."""
        return job_runner_url.rstrip("/") + get_trigger_path(self.pipeline_name)

    def get_next_fire_time(self, after: datetime) -> datetime | None:
        return get_next_fire_time(self.schedule, self.time_zone, after)


def make_scheduler_job(
    pipeline_name: str, schedule: str, time_zone: str, *, paused: bool
) -> SchedulerJob:
    """The Scheduler job of pipeline `pipeline_name` (its `schedule` and `timezone` from the
    spec); `paused` as the environment wants it (dev and local: paused until resumed)."""
    return SchedulerJob(pipeline_name, check_cron(schedule), time_zone, paused)


def get_next_fire_time(schedule: str, time_zone: str, after: datetime) -> datetime | None:
    """The first instant after the aware time `after` at which `schedule` fires in `time_zone`
    (UTC), or None if it never does. See the module docstring for DST."""
    if after.tzinfo is None:
        raise ValueError(f"after {after.isoformat()} has no timezone (expected an aware time)")
    tz = ZoneInfo(time_zone)
    wall_after = after.astimezone(tz).replace(tzinfo=None)
    matches = croniter(schedule, wall_after - _FOLD_REACH)  # naive: plain wall-clock times
    best: datetime | None = None
    for _ in range(_MAX_MATCHES):
        try:
            wall: datetime = matches.get_next(datetime)
        except CroniterBadDateError:  # no match in croniter's search horizon (e.g. 31 Feb)
            return best
        if best is not None and wall > best.astimezone(tz).replace(tzinfo=None) + _FOLD_REACH:
            return best
        for instant in get_instants(wall, tz):
            if instant > after and (best is None or instant < best):
                best = instant
    return best


def get_instants(wall: datetime, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the naive wall-clock time `wall` occurs in `tz`: none in a
    spring-forward gap, two in a fall-back repeat, else one."""
    instants = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == wall and instant not in instants:
            instants.append(instant)
    return instants


def get_fire_times(
    schedule: str, time_zone: str, after: datetime, until: datetime
) -> list[datetime]:
    """Every instant in (`after`, `until`] at which `schedule` fires in `time_zone`."""
    times: list[datetime] = []
    current = get_next_fire_time(schedule, time_zone, after)
    while current is not None and current <= until:
        times.append(current)
        current = get_next_fire_time(schedule, time_zone, current)
    return times


def format_schedule_time(instant: datetime) -> str:
    """`X-CloudScheduler-ScheduleTime` as Cloud Scheduler sends it: RFC 3339 in UTC."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
