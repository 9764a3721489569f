"""`dayflow schedule list|pause|resume|run`: see and steer the pipelines' Cloud Scheduler jobs.

The same client (`google.cloud.scheduler_v1.CloudSchedulerClient`) drives both environments:
locally the stack's scheduler (REST, no credentials: see dayflow.local.scheduler_api), in dev
and prod Cloud Scheduler itself with your credentials (Application Default Credentials), in
the environment's project and `--region` (default: the environment's region; a stack whose
region has no Cloud Scheduler deploys its jobs in its `schedulerRegion`: pass that).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from dayflow.cli.app import app
from dayflow.cli.context import EnvName, EnvOption, SpecOption, console, get_env, get_spec
from dayflow.cli.output import plain, print_json, shorten
from dayflow.errors import DayflowError, UnavailableError, UserError
from dayflow.schedules import get_scheduler_job_name
from dayflow.settings import get_settings
from dayflow.spec import Spec

if TYPE_CHECKING:
    from google.cloud.scheduler_v1 import CloudSchedulerClient, Job

schedule_app = typer.Typer(
    help="See, pause, resume or force-run the pipelines' schedules (Cloud Scheduler jobs).",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")

# Seconds a call may take: the local scheduler answers at once; GCP within seconds.
CALL_TIMEOUT = {"local": 10.0, "gcp": 60.0}
PipelineArgument = Annotated[str, typer.Argument(help="Pipeline name")]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="Cloud Scheduler region in dev/prod (default: the environment's region; use the "
        "stack's schedulerRegion when its region has no Cloud Scheduler)",
    ),
]
_STATE_STYLE = {"ENABLED": "green", "PAUSED": "yellow"}


class Scheduler:
    """The Cloud Scheduler API of one environment, with the parent its jobs live under."""

    def __init__(self, spec: Spec, env: EnvName, region: str | None) -> None:
        self.env = env
        self.timeout = CALL_TIMEOUT["local" if env == "local" else "gcp"]
        from google.cloud import scheduler_v1

        if env == "local":
            from google.api_core.client_options import ClientOptions
            from google.auth.credentials import AnonymousCredentials

            from dayflow.local.stack import LOCAL_PROJECT, get_stack

            stack = get_stack(get_settings().state_dir)
            url = stack.get("scheduler_url")
            if not url:
                raise DayflowError(
                    "the local stack runs no scheduler (it was started by an older dayflow: "
                    "restart it with: dayflow local up)"
                )
            self.where = f"the local scheduler at {url}"
            self.client: CloudSchedulerClient = scheduler_v1.CloudSchedulerClient(
                transport="rest",
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options=ClientOptions(api_endpoint=url),
            )
            project, location = LOCAL_PROJECT, stack["workflows_location"]
        else:
            environment = spec.get_environment(env)
            project, location = environment.gcp_project, region or environment.region
            self.where = f"Cloud Scheduler in projects/{project}/locations/{location}"
            from google.auth.exceptions import DefaultCredentialsError

            try:
                self.client = scheduler_v1.CloudSchedulerClient()
            except DefaultCredentialsError as err:
                raise UserError(
                    f"no Google credentials to call {self.where} ({err}; expected: gcloud "
                    "auth application-default login)"
                ) from None
        self.parent = f"projects/{project}/locations/{location}"

    def get_name(self, pipeline: str) -> str:
        return f"{self.parent}/jobs/{get_scheduler_job_name(pipeline)}"

    def call(self, method: str, pipeline: str | None = None) -> Any:
        """Call `method` on the job of `pipeline` (or list the parent's jobs); API errors
        become one line naming the job and where it was looked for."""
        from google.api_core import exceptions
        from google.api_core.retry import Retry

        # Transient errors are retried, all within the timeout (not the client's 10 minutes).
        retry = Retry(timeout=self.timeout)
        try:
            if pipeline is None:
                jobs = self.client.list_jobs(parent=self.parent, retry=retry, timeout=self.timeout)
                return list(jobs)
            call = getattr(self.client, method)
            return call(name=self.get_name(pipeline), retry=retry, timeout=self.timeout)
        except exceptions.NotFound as err:
            job = get_scheduler_job_name(pipeline) if pipeline else "jobs"
            raise UserError(
                f"no Cloud Scheduler job {job} in {self.where} (expected the job infra creates "
                f"for each pipeline: is the stack deployed, in this region? {err.message})"
            ) from None
        except exceptions.GoogleAPICallError as err:
            raise DayflowError(f"{self.where} refused {method}: {err.message}") from None
        except exceptions.RetryError as err:
            raise UnavailableError(f"{self.where} did not answer: {err}") from None
        except OSError as err:  # a REST call to a dead local scheduler
            raise UnavailableError(f"{self.where} did not answer: {err}") from None


def _time(value: datetime | None, tz: str) -> str:
    """A job time in the pipeline's time zone, e.g. `2024-03-10 03:00 EDT`."""
    if value is None or value.timestamp() <= 0:  # an unset Timestamp reads as the epoch
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def _utc(value: datetime | None) -> str | None:
    if value is None or value.timestamp() <= 0:
        return None
    return value.astimezone(UTC).isoformat()


def to_json(pipeline: str, job: Job | None) -> dict[str, Any]:
    """A pipeline's job as `dayflow schedule list --json` prints it."""
    if job is None:
        return {"pipeline": pipeline, "job": get_scheduler_job_name(pipeline), "state": "MISSING"}
    status = job.status if job.status.code else None
    return {
        "pipeline": pipeline,
        "job": job.name,
        "schedule": job.schedule,
        "time_zone": job.time_zone,
        "state": job.state.name,
        "next_time": _utc(job.schedule_time),
        "last_attempt_time": _utc(job.last_attempt_time),
        "last_status": None if status is None else {"code": status.code, "message": status.message},
    }


@schedule_app.command("list")
def list_schedules(
    as_json: Annotated[bool, typer.Option("--json", help="Print the schedules as JSON")] = False,
    spec_path: SpecOption = None,
    env: EnvOption = None,
    region: RegionOption = None,
) -> None:
    """Each pipeline's schedule: cron, time zone, state, next and last times."""
    spec = get_spec(spec_path)
    scheduler = Scheduler(spec, get_env(env), region)
    jobs = {job.name: job for job in scheduler.call("list_jobs")}
    found = {name: jobs.get(scheduler.get_name(name)) for name in spec.pipelines}
    if as_json:
        print_json([to_json(name, job) for name, job in found.items()])
        return
    table = Table("pipeline", "schedule", "time zone", "state", "next", "last attempt", "status")
    for name, job in found.items():
        if job is None:
            table.add_row(name, "", "", plain("MISSING", "bold red"), "", "", "not deployed")
            continue
        tz = job.time_zone or "UTC"
        status = plain(shorten(job.status.message or f"code {job.status.code}", 60), "red")
        table.add_row(
            name,
            job.schedule,
            job.time_zone,
            plain(job.state.name, _STATE_STYLE.get(job.state.name, "red")),
            _time(job.schedule_time, tz),
            _time(job.last_attempt_time, tz),
            status if job.status.code else plain("ok" if _utc(job.last_attempt_time) else ""),
        )
    console.print(table)


def _act(
    method: str, pipeline: str, spec_path: Path | None, env: EnvName | None, region: str | None
) -> Job:
    spec = get_spec(spec_path)
    spec.get_pipeline(pipeline)
    job: Job = Scheduler(spec, get_env(env), region).call(method, pipeline)
    return job


@schedule_app.command("pause")
def pause(
    pipeline: PipelineArgument,
    spec_path: SpecOption = None,
    env: EnvOption = None,
    region: RegionOption = None,
) -> None:
    """Pause a pipeline's schedule: nothing fires until it is resumed."""
    job = _act("pause_job", pipeline, spec_path, env, region)
    console.print(plain(f"{pipeline}: {job.state.name} ({job.name})"))


@schedule_app.command("resume")
def resume(
    pipeline: PipelineArgument,
    spec_path: SpecOption = None,
    env: EnvOption = None,
    region: RegionOption = None,
) -> None:
    """Resume a pipeline's schedule from its next scheduled time."""
    job = _act("resume_job", pipeline, spec_path, env, region)
    next_time = _time(job.schedule_time, job.time_zone or "UTC") or "never"
    console.print(plain(f"{pipeline}: {job.state.name}, next at {next_time} ({job.name})"))


@schedule_app.command("run")
def run(
    pipeline: PipelineArgument,
    spec_path: SpecOption = None,
    env: EnvOption = None,
    region: RegionOption = None,
) -> None:
    """Fire a pipeline's schedule now (its run processes the partition that time maps to)."""
    job = _act("run_job", pipeline, spec_path, env, region)
    console.print(
        plain(f"{pipeline}: fired now ({job.name}); follow it with: dayflow executions {pipeline}")
    )
