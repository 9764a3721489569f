"""Schedules on a real local stack (one per module, a tiny hourly spec in America/New_York):

- a scheduler in virtual time fires the hourly cron across both DST days at the real job-runner,
  and each partition runs exactly once (the issue's must-show);
- the real google-cloud-scheduler client drives the stack's scheduler (list, pause, resume, run);
- `dayflow schedule` through the real entry point.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import scheduler_v1

from dayflow.local.process import get_free_port
from dayflow.local.scheduler import OK, LocalScheduler
from dayflow.local.stack import LOCAL_PROJECT
from dayflow.schedules import make_scheduler_job
from dayflow.testing.project import LocalProject
from tests.cli.conftest import RunCli

PIPELINE, JOB = "meter_hourly", "dayflow-meter-hourly"
NEW_YORK = ZoneInfo("America/New_York")
# A run takes seconds; the deadline only stops a run that never ends (a failure ends the wait).
RUN_DEADLINE = 300.0


def write_spec(directory: Path, **environments: dict[str, str]) -> Path:
    (directory / "readings.sql").write_text("SELECT @partition_start AS reading_ts, 1.0 AS kwh\n")
    spec = {
        "version": 1,
        "name": "meters",
        "environments": {"local": {"gcp_project": "local"}, **environments},
        "pipelines": {
            PIPELINE: {
                "granularity": "hour",
                "timezone": "America/New_York",
                "schedule": "0 * * * *",
                "start": "2024-03-01T00",
                "jobs": {
                    "readings": {
                        "kind": "bigquery_sql",
                        "sql": str(directory / "readings.sql"),
                        "destination": {
                            "dataset": "staging",
                            "table": "meter_readings",
                            "partition_field": "reading_ts",
                            "partition_type": "TIMESTAMP",
                        },
                    }
                },
            }
        },
    }
    path = directory / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProject]:
    spec_path = write_spec(tmp_path_factory.mktemp("meters"))
    with LocalProject.start(spec_path, tmp_path_factory.mktemp("meters-stack")) as started:
        yield started


@pytest.fixture
def client(project: LocalProject) -> Iterator[scheduler_v1.CloudSchedulerClient]:
    with scheduler_v1.CloudSchedulerClient(
        transport="rest",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=project.urls["scheduler_url"]),
    ) as made:
        yield made


def local(
    year: int, month: int, day: int, hour: int, minute: int = 0, *, fold: int = 0
) -> datetime:
    wall = datetime(year, month, day, hour, minute, tzinfo=NEW_YORK, fold=fold)
    return wall.astimezone(UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.time = start

    def now(self) -> datetime:
        return self.time


def wait_for_runs(project: LocalProject, keys: set[str]) -> dict[str, dict[str, Any]]:
    """run_partition executions of `keys`, by key, once every one has ended."""
    deadline = time.monotonic() + RUN_DEADLINE
    while True:
        runs: dict[str, list[Any]] = {}
        for info in project.executions.list("run_partition", limit=100):
            runs.setdefault(str(info.argument.get("partition_key")), []).append(info)
        ended = {k: v for k, v in runs.items() if all(i.is_done for i in v)}
        if keys <= set(ended) or time.monotonic() > deadline:
            return {k: {"count": len(v), "states": {i.state for i in v}} for k, v in runs.items()}
        time.sleep(0.2)


def test_hourly_schedule_across_both_dst_days_runs_each_partition_once(
    project: LocalProject,
) -> None:
    """America/New_York: 2024-03-10 skips 02:00 (23 hours), 2024-11-03 repeats 01:00 (25).
    The scheduler runs through the hours around each change (each run costs seconds here)."""
    clock = Clock(local(2024, 3, 10, 0, 30))
    job = make_scheduler_job(PIPELINE, "0 * * * *", "America/New_York", paused=True)
    scheduler = LocalScheduler([job], project.urls["job_runner_url"], clock=clock)
    try:
        scheduler.resume(JOB)
        clock.time = local(2024, 3, 10, 3, 30)
        spring = scheduler.run_pending()
        scheduler.pause(JOB)
        clock.time = local(2024, 11, 3, 0, 30)
        scheduler.resume(JOB)
        clock.time = local(2024, 11, 3, 2, 30)
        fall = scheduler.run_pending()
    finally:
        scheduler.close()

    # Spring: 01:00 EST, then 03:00 EDT (02:00 does not exist). Fall: 01:00 EDT, 01:00 EST,
    # 02:00 EST. With lag 1 each processes the hour before it: 03:00 processes 01, the hour
    # before 02:00 skipped; both 01:00s process hour 00.
    sent = [(d.schedule_time.strftime("%Y-%m-%d %H:%MZ"), d.status.code) for d in spring + fall]
    assert sent == [
        ("2024-03-10 06:00Z", OK), ("2024-03-10 07:00Z", OK),
        ("2024-11-03 05:00Z", OK), ("2024-11-03 06:00Z", OK), ("2024-11-03 07:00Z", OK),
    ]  # fmt: skip
    answers = [(d.response["partition_key"], d.response["duplicate"]) for d in spring + fall]
    assert answers == [
        ("2024-03-10T00", False), ("2024-03-10T01", False),
        ("2024-11-03T00", False), ("2024-11-03T00", True), ("2024-11-03T01", False),
    ]  # fmt: skip
    expected = {key for key, duplicate in answers if not duplicate}
    runs = wait_for_runs(project, expected)
    assert {k: r for k, r in runs.items() if k in expected or k.startswith("2024")} == {
        key: {"count": 1, "states": {"SUCCEEDED"}} for key in expected
    }
    for day in ("2024-03-10", "2024-11-03"):
        ledger = project.get_runs(PIPELINE, f"{day}T00", f"{day}T23")
        assert [(r["partition_key"], r["status"], r["attempt"]) for r in ledger] == [
            (key, "succeeded", 1) for key in sorted(expected) if key.startswith(day)
        ]


def test_cloud_scheduler_client_lists_pauses_resumes_and_runs_local_jobs(
    project: LocalProject, client: scheduler_v1.CloudSchedulerClient
) -> None:
    parent = f"projects/{LOCAL_PROJECT}/locations/{project.urls['workflows_location']}"
    name = f"{parent}/jobs/{JOB}"
    (listed,) = client.list_jobs(parent=parent)
    assert (listed.name, listed.schedule, listed.time_zone) == (
        name,
        "0 * * * *",
        "America/New_York",
    )
    assert listed.state == scheduler_v1.Job.State.PAUSED  # local jobs start paused
    assert listed.http_target.uri == f"{project.urls['job_runner_url']}/triggers/{PIPELINE}"
    assert listed.retry_config.retry_count == 3
    resumed = client.resume_job(name=name)
    assert resumed.state == scheduler_v1.Job.State.ENABLED
    next_time = resumed.schedule_time  # the next top of the hour
    assert (next_time.minute, next_time.second) == (0, 0)
    assert datetime.now(UTC) < next_time <= datetime.now(UTC) + timedelta(hours=1)
    assert client.pause_job(name=name).state == scheduler_v1.Job.State.PAUSED
    forced = client.run_job(name=name)
    assert forced.state == scheduler_v1.Job.State.PAUSED  # a forced run leaves the state
    deadline = time.monotonic() + RUN_DEADLINE
    job = client.get_job(name=name)
    while job.last_attempt_time is None and time.monotonic() < deadline:
        time.sleep(0.1)
        job = client.get_job(name=name)
    assert job.last_attempt_time is not None
    assert job.status.code == 0, job.status.message  # the job-runner answered 2xx
    with pytest.raises(Exception, match="404"):
        client.get_job(name=f"{parent}/jobs/dayflow-nope")


def test_schedule_pause_then_list_shows_paused(project: LocalProject, cli: RunCli) -> None:
    env = {"state_dir": str(project.state_dir), "spec": str(project.spec_path)}
    resumed = cli("schedule", "resume", PIPELINE, **env)
    assert resumed.code == 0, resumed.err
    assert f"{PIPELINE}: ENABLED, next at" in resumed.out
    assert cli("schedule", "pause", PIPELINE, **env).code == 0
    listed = cli("schedule", "list", "--json", **env)
    assert listed.code == 0, listed.err
    (row,) = json.loads(listed.out)
    assert (row["pipeline"], row["state"], row["schedule"]) == (PIPELINE, "PAUSED", "0 * * * *")
    assert row["time_zone"] == "America/New_York"
    table = cli("schedule", "list", **env)
    assert "PAUSED" in table.out and PIPELINE in table.out


def test_schedule_of_an_unknown_pipeline_is_one_line_and_exit_2(
    project: LocalProject, cli: RunCli
) -> None:
    env = {"state_dir": str(project.state_dir), "spec": str(project.spec_path)}
    result = cli("schedule", "pause", "nope", **env)
    assert result.code == 2
    assert len(result.err_lines) == 1 and "'nope'" in result.err, result.err


def test_schedule_without_a_local_stack_names_what_to_run(tmp_path: Path, cli: RunCli) -> None:
    spec = write_spec(tmp_path)
    result = cli("schedule", "list", state_dir=str(tmp_path / "none"), spec=str(spec))
    assert result.code == 1
    assert result.err_lines == [
        "error: the local stack is not running (start it with: dayflow local up)"
    ]


def test_schedule_in_gcp_without_credentials_is_one_line(
    tmp_path: Path, cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    spec = write_spec(tmp_path, dev={"gcp_project": "acme-meters-dev", "region": "us-east1"})
    result = cli("schedule", "pause", PIPELINE, "--env", "dev", spec=str(spec))
    assert result.code == 2
    assert len(result.err_lines) == 1, result.err
    assert result.err.startswith(
        "error: no Google credentials to call Cloud Scheduler in "
        "projects/acme-meters-dev/locations/us-east1 ("
    )


def test_schedule_with_a_dead_local_scheduler_names_it(tmp_path: Path, cli: RunCli) -> None:
    dead = f"http://127.0.0.1:{get_free_port()}"  # bound once, then closed: refused at once
    state = tmp_path / "state"
    state.mkdir()
    (state / "stack.json").write_text(json.dumps({"scheduler_url": dead}))
    result = cli("schedule", "list", state_dir=str(state), spec=str(write_spec(tmp_path)))
    assert result.code == 1
    assert result.err_lines == [
        f"error: the local stack is not answering: the local scheduler at {dead} refused the "
        "connection (restart it: dayflow local up)"
    ]
