"""Orchestration: Workflows deployed from `workflows/`, one Cloud Scheduler job per pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_gcp import cloudscheduler, projects, workflows

from dayflow.infra.components import get_child_options, with_depends_on
from dayflow.schedules import SchedulerJob, get_trigger_path, make_scheduler_job

# A workflow whose source calls this connector starts other executions (e.g. backfill fan-out).
EXECUTIONS_CONNECTOR = "googleapis.workflowexecutions."


def get_trigger_url(job_runner_uri: pulumi.Output[str], pipeline_name: str) -> pulumi.Output[str]:
    """The job-runner endpoint that starts a scheduled run of `pipeline_name`."""
    return job_runner_uri.apply(lambda uri: uri.rstrip("/") + get_trigger_path(pipeline_name))


def get_job_args(job: SchedulerJob) -> dict[str, object]:
    """The `cloudscheduler.Job` arguments that `dayflow.schedules` defines (one definition for
    infra and the local scheduler): name, description, cron, time zone, paused state, attempt
    deadline and retry config. The HTTP target needs the job-runner's URL, an Output."""
    retry = job.retry
    return {
        "name": job.job_id,
        "description": job.description,
        "schedule": job.schedule,
        "time_zone": job.time_zone,
        "paused": job.paused,
        "attempt_deadline": f"{int(job.attempt_deadline.total_seconds())}s",
        # A retried call carries the same X-CloudScheduler-ScheduleTime as the first one.
        "retry_config": {
            "retry_count": retry.retry_count,
            "min_backoff_duration": f"{int(retry.min_backoff.total_seconds())}s",
            "max_backoff_duration": f"{int(retry.max_backoff.total_seconds())}s",
            "max_doublings": retry.max_doublings,
        },
    }


@dataclass(frozen=True)
class WorkflowSource:
    """A `*.workflows.yaml` file, deployed as Workflow `name`."""

    name: str
    path: Path

    def read_source(self) -> str:
        return self.path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class ScheduledPipeline:
    name: str
    schedule: str  # 5-field cron, in `time_zone`
    time_zone: str  # IANA name, from the spec


@dataclass(frozen=True)
class OrchestrationArgs:
    project: str
    region: str
    # Cloud Scheduler's region (`infra.locations`): the stack's region where Scheduler runs.
    scheduler_region: str
    job_runner_uri: pulumi.Input[str]
    job_runner_member: pulumi.Input[str]
    workflows: tuple[WorkflowSource, ...]
    # The one account every Workflow runs as.
    workflows_service_account_id: pulumi.Input[str]
    workflows_service_account_member: pulumi.Input[str]
    pipelines: tuple[ScheduledPipeline, ...]
    scheduler_service_account_email: pulumi.Input[str]
    schedule_paused: bool
    labels: Mapping[str, str]
    deletion_protection: bool
    # IAM members who may start executions (manual backfills from the CLI).
    operators: tuple[pulumi.Input[str], ...] = ()
    # The job-runner's run.invoker grants to the scheduler and to the Workflows account:
    # schedules and workflows are created after the grant they call with.
    scheduler_invoker_grant: pulumi.Resource | None = None
    workflows_invoker_grant: pulumi.Resource | None = None


class Orchestration(pulumi.ComponentResource):
    """Creates the Workflows, the schedules, and the IAM to start executions.

    Creates:
    - `workflows.Workflow` per source file, named by the file (`run_partition.workflows.yaml` ->
      `run_partition`), source read from the file, `JOB_RUNNER_URL` in `user_env_vars`, running
      as the Workflows account, which gets `roles/logging.logWriter` for call logs, and
      `roles/workflows.invoker` only if a source calls the Workflow Executions API;
    - `cloudscheduler.Job` `dayflow-<pipeline>` per pipeline, in `scheduler_region`, after the
      scheduler's invoker grant on the job-runner: cron and time zone from the spec,
      POST `{job_runner_uri}/triggers/<pipeline>` with an OIDC token of the scheduler account
      (audience: the job-runner URL); Cloud Scheduler adds `X-CloudScheduler-ScheduleTime`;
    - `projects.IAMMember` `roles/workflows.invoker` for the job-runner, which starts executions.

    Secure defaults: Workflows only log errors of calls; schedules are paused unless the stack
    says otherwise; retries are bounded; deletion protection per stack. Workflows has no
    per-workflow IAM, so the invoker roles are project-level (they grant nothing else).
    """

    def __init__(
        self, name: str, args: OrchestrationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:Orchestration", name, None, opts)
        child = get_child_options(self, opts)

        sources = {source.name: (source, source.read_source()) for source in args.workflows}
        grants: list[pulumi.Resource] = [
            # Call logs (call_log_level) are written as the workflow's account; the local engine
            # writes none (https://cloud.google.com/workflows/docs/log-workflow).
            projects.IAMMember(
                "log-writer-workflows",
                project=args.project,
                role="roles/logging.logWriter",
                member=args.workflows_service_account_member,
                opts=child,
            )
        ]
        if any(EXECUTIONS_CONNECTOR in text for _, text in sources.values()):
            grants.append(
                projects.IAMMember(
                    "workflows-invoker-workflows",
                    project=args.project,
                    role="roles/workflows.invoker",
                    member=args.workflows_service_account_member,
                    opts=child,
                )
            )
        if args.workflows_invoker_grant is not None:
            grants.append(args.workflows_invoker_grant)

        self.workflows: dict[str, workflows.Workflow] = {}
        for source, text in sources.values():
            self.workflows[source.name] = workflows.Workflow(
                f"workflow-{source.name}",
                project=args.project,
                region=args.region,
                name=source.name,
                description=f"dayflow: deployed from workflows/{source.path.name}",
                source_contents=text,
                service_account=args.workflows_service_account_id,
                user_env_vars={"JOB_RUNNER_URL": args.job_runner_uri},
                call_log_level="LOG_ERRORS_ONLY",
                labels=dict(args.labels),
                deletion_protection=args.deletion_protection,
                opts=with_depends_on(child, *grants),
            )

        projects.IAMMember(
            "workflows-invoker-job-runner",
            project=args.project,
            role="roles/workflows.invoker",
            member=args.job_runner_member,
            opts=child,
        )

        # Operators (and the operator account the CLI impersonates: `dayflow backfill --env`
        # starts and lists executions) start and inspect executions; no local call records it.
        for i, member in enumerate(args.operators):
            projects.IAMMember(
                f"workflows-invoker-operator-{i}",
                project=args.project,
                role="roles/workflows.invoker",
                member=member,
                opts=child,
            )

        self.schedules: dict[str, cloudscheduler.Job] = {}
        base = pulumi.Output.from_input(args.job_runner_uri)
        schedule_opts = child
        if args.scheduler_invoker_grant is not None:
            schedule_opts = with_depends_on(child, args.scheduler_invoker_grant)
        for pipeline in args.pipelines:
            job = make_scheduler_job(
                pipeline.name, pipeline.schedule, pipeline.time_zone, paused=args.schedule_paused
            )
            self.schedules[pipeline.name] = cloudscheduler.Job(
                f"schedule-{pipeline.name}",
                project=args.project,
                region=args.scheduler_region,
                **get_job_args(job),
                http_target={
                    "uri": get_trigger_url(base, pipeline.name),
                    "http_method": job.http_method,
                    "oidc_token": {
                        "service_account_email": args.scheduler_service_account_email,
                        "audience": base,
                    },
                },
                opts=schedule_opts,
            )

        self.workflow_names = {k: w.name for k, w in self.workflows.items()}
        self.schedule_names = {k: j.name for k, j in self.schedules.items()}
        self.register_outputs(
            {"workflow_names": self.workflow_names, "schedule_names": self.schedule_names}
        )
