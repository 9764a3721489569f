"""CloudRunJobs: one Cloud Run Job per `cloud_run_job` of the spec, each with its own identity.

`get_cloud_run_jobs` reads what to deploy from the spec (pure, tested on its own); the component
declares it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_gcp import bigquery, cloudrunv2, projects, serviceaccount

from dayflow.cloud_run_jobs import get_cloud_run_job_name, get_job_env
from dayflow.infra.catalog import DATA_EDITOR, DATA_VIEWER
from dayflow.infra.components import get_child_options, with_depends_on
from dayflow.infra.naming import get_account_id
from dayflow.spec import CloudRunJob, Spec

# Executing a job with overrides (the partition's env vars, the task timeout) needs
# run.jobs.runWithOverrides, and cancelling an execution (on a timeout) run.executions.cancel:
# "to override job configurations, or to cancel job executions: Cloud Run Developer
# (roles/run.developer) on the Cloud Run job"
# (https://cloud.google.com/run/docs/execute/jobs#override-job-configuration; the invoker role
# has run.jobs.run only). Executing needs no actAs on the job's account (deploying it does).
RUN_WITH_OVERRIDES_ROLE = "roles/run.developer"


@dataclass(frozen=True)
class DeployedJob:
    """A `cloud_run_job` as deployed in one environment."""

    pipeline: str
    job: str
    name: str  # the Cloud Run Job (dayflow.cloud_run_jobs.get_cloud_run_job_name)
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: Mapping[str, str]
    max_retries: int
    timeout_seconds: int
    cpu: str
    memory: str
    # Logical datasets of the spec it writes and reads, and source datasets it reads.
    writes: tuple[str, ...]
    reads: tuple[str, ...]
    source_reads: tuple[str, ...]

    @property
    def key(self) -> str:
        """`pipeline-job`: the suffix of this job's Pulumi resource names."""
        return f"{self.pipeline}-{self.job}".replace("_", "-")


def get_cloud_run_jobs(spec: Spec, environment: str, image: str) -> tuple[DeployedJob, ...]:
    """Every `cloud_run_job` of the spec as deployed in `environment`; `image` (the project's
    own, which the job-runner runs) unless the job names another."""
    env = spec.get_environment(environment)
    jobs = []
    for pipeline_name, pipeline in spec.pipelines.items():
        for job_name, job in pipeline.jobs.items():
            if not isinstance(job, CloudRunJob):
                continue
            written = job.get_written_datasets()
            jobs.append(
                DeployedJob(
                    pipeline=pipeline_name,
                    job=job_name,
                    name=get_cloud_run_job_name(pipeline_name, job_name),
                    image=job.image or image,
                    command=tuple(job.command),
                    args=tuple(job.args),
                    env=get_job_env(
                        job,
                        env_name=environment,
                        environment=env,
                        pipeline=pipeline_name,
                        job_name=job_name,
                    ),
                    max_retries=job.max_retries,
                    timeout_seconds=job.timeout_seconds,
                    cpu=job.cpu,
                    memory=job.memory,
                    writes=written,
                    reads=tuple(d for d in job.reads if d not in spec.sources and d not in written),
                    source_reads=tuple(d for d in job.reads if d in spec.sources),
                )
            )
    return tuple(jobs)


@dataclass(frozen=True)
class CloudRunJobsArgs:
    project: str
    region: str
    jobs: tuple[DeployedJob, ...]
    # Logical dataset -> its dataset id (Warehouse's outputs: grants wait for the datasets).
    dataset_ids: Mapping[str, pulumi.Input[str]]
    job_runner_member: pulumi.Input[str]
    labels: Mapping[str, str]
    deletion_protection: bool


class CloudRunJobs(pulumi.ComponentResource):
    """Creates, for each `cloud_run_job` of the spec:

    - its own service account `dayflow-job-<pipeline>-<job>` (shortened with a hash if long);
    - `roles/bigquery.jobUser` on the project for it (running queries is project-scoped), and
      per dataset `roles/bigquery.dataEditor` on the one its destination lies in and
      `roles/bigquery.dataViewer` on each it `reads` (spec datasets and declared sources);
    - the `cloudrunv2.Job` running the image's command and args as that account, with the job's
      env vars and dayflow's per-environment ones (dayflow.cloud_run_jobs), one task, the spec's
      `max_retries`, its timeout as the task timeout, and its CPU and memory;
    - `roles/run.developer` on that job only for the job-runner, which executes it with the
      partition's env overrides and cancels an execution that outlives the timeout.

    Secure defaults: each job has its own least-privilege identity (no project-wide data roles,
    nothing on the ledger); the job-runner may run these jobs and no others, and needs no
    actAs on their accounts; deletion protection per stack. The job is created after its
    account's grants, so its first execution never meets a 403.
    """

    def __init__(
        self, name: str, args: CloudRunJobsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:CloudRunJobs", name, None, opts)
        child = get_child_options(self, opts)
        self.jobs: dict[str, cloudrunv2.Job] = {}
        self.emails: dict[str, pulumi.Output[str]] = {}
        for job in args.jobs:
            self._add_job(args, job, child)
        self.job_names = {k: j.name for k, j in self.jobs.items()}
        self.register_outputs({"job_names": self.job_names, "emails": self.emails})

    def _add_job(
        self, args: CloudRunJobsArgs, job: DeployedJob, child: pulumi.ResourceOptions
    ) -> None:
        account = serviceaccount.Account(
            f"sa-job-{job.key}",
            project=args.project,
            account_id=get_account_id(f"job-{job.key}"),
            display_name=f"dayflow job {job.pipeline}.{job.job}",
            description=f"cloud_run_job {job.pipeline}.{job.job}: writes {', '.join(job.writes)}",
            opts=child,
        )
        grants: list[pulumi.Resource] = [
            projects.IAMMember(
                f"job-{job.key}-bigquery-job-user",
                project=args.project,
                role="roles/bigquery.jobUser",
                member=account.member,
                opts=child,
            )
        ]
        for dataset, role, dataset_id in (
            *((d, DATA_EDITOR, args.dataset_ids[d]) for d in job.writes),
            *((d, DATA_VIEWER, args.dataset_ids[d]) for d in job.reads),
            *((d, DATA_VIEWER, d) for d in job.source_reads),
        ):
            grants.append(
                bigquery.DatasetIamMember(
                    f"job-{job.key}-{dataset}-{role.removeprefix('roles/bigquery.')}",
                    project=args.project,
                    dataset_id=dataset_id,
                    role=role,
                    member=account.member,
                    opts=child,
                )
            )
        labels = dict(args.labels)
        run_job = cloudrunv2.Job(
            f"job-{job.key}",
            project=args.project,
            location=args.region,
            name=job.name,
            deletion_protection=args.deletion_protection,
            labels=labels,
            template={
                "task_count": 1,
                "labels": labels,
                "template": {
                    "service_account": account.email,
                    "max_retries": job.max_retries,
                    "timeout": f"{job.timeout_seconds}s",
                    "containers": [
                        {
                            "image": job.image,
                            "commands": list(job.command),
                            "args": list(job.args),
                            "envs": [{"name": k, "value": v} for k, v in sorted(job.env.items())],
                            "resources": {"limits": {"cpu": job.cpu, "memory": job.memory}},
                        }
                    ],
                },
            },
            opts=with_depends_on(child, *grants),
        )
        cloudrunv2.JobIamMember(
            f"job-{job.key}-runner",
            project=args.project,
            location=args.region,
            name=run_job.name,
            role=RUN_WITH_OVERRIDES_ROLE,
            member=args.job_runner_member,
            opts=child,
        )
        self.jobs[job.key] = run_job
        self.emails[job.key] = account.email
