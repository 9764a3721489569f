"""JobRunnerService: the job-runner FastAPI app on Cloud Run v2, reachable only by its callers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_gcp import cloudrunv2, projects

from dayflow.infra.components import get_child_options
from dayflow.infra.naming import get_service_name

CONTAINER_PORT = 8080


@dataclass(frozen=True)
class JobRunnerArgs:
    project: str
    region: str
    image: str
    service_account_email: pulumi.Input[str]
    service_account_member: pulumi.Input[str]
    # JOB_RUNNER_* settings of the app (`services/job_runner`); Cloud Run sets PORT itself.
    env_vars: Mapping[str, pulumi.Input[str]]
    min_instances: int
    max_instances: int
    # Workload key -> member allowed to call the service (roles/run.invoker).
    invokers: Mapping[str, pulumi.Input[str]]
    labels: Mapping[str, str]
    deletion_protection: bool
    # Requests are short: POST /runs starts a run and answers within JOB_RUNNER_RUN_HOLD_SECONDS
    # (at most 300 s), then Workflows polls. Memory is for dbt's parser.
    request_timeout_seconds: int = 300
    cpu: str = "1"
    memory: str = "2Gi"
    # Cloud Run container concurrency; the app runs this many partitions at once at most
    # (JOB_RUNNER_MAX_CONCURRENT_RUNS is set to the same number).
    max_concurrent_requests: int = 20
    # INGRESS_TRAFFIC_INTERNAL_ONLY, or INGRESS_TRAFFIC_ALL for operators (still IAM-checked).
    ingress: str = "INGRESS_TRAFFIC_INTERNAL_ONLY"


class JobRunnerService(pulumi.ComponentResource):
    """Creates the job-runner Cloud Run v2 service and its IAM.

    Creates:
    - `cloudrunv2.Service` `dayflow-job-runner` running `args.image` as its own service account,
      with the `JOB_RUNNER_*` env vars, min/max instances, and a `/healthz` startup probe;
    - `cloudrunv2.ServiceIamMember` `roles/run.invoker` for each of `args.invokers` only
      (exposed as `invoker_grants`, for the callers' resources to depend on);
    - `projects.IAMMember` `roles/bigquery.jobUser` for its service account (running queries is
      project-scoped in BigQuery; table access comes from dataset-level roles in Warehouse).

    Secure defaults: internal ingress only (Cloud Scheduler and Workflows of the same project
    count as internal), IAM invoker checks always on (no `allUsers`, `invoker_iam_disabled`
    false), deletion protection per stack. CPU stays allocated while an instance lives (runs
    continue in the background after POST /runs answers), and instances scale to zero.
    """

    def __init__(
        self, name: str, args: JobRunnerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:JobRunnerService", name, None, opts)
        child = get_child_options(self, opts)

        self.service = cloudrunv2.Service(
            "service",
            project=args.project,
            location=args.region,
            name=get_service_name("dayflow", "job-runner"),
            description="dayflow job-runner: runs partitions, plans and backfills",
            ingress=args.ingress,
            invoker_iam_disabled=False,
            deletion_protection=args.deletion_protection,
            labels=dict(args.labels),
            template={
                "service_account": args.service_account_email,
                "timeout": f"{args.request_timeout_seconds}s",
                "max_instance_request_concurrency": args.max_concurrent_requests,
                "scaling": {
                    "min_instance_count": args.min_instances,
                    "max_instance_count": args.max_instances,
                },
                "labels": dict(args.labels),
                "containers": [
                    {
                        "image": args.image,
                        "ports": {"container_port": CONTAINER_PORT},
                        "envs": [{"name": k, "value": v} for k, v in sorted(args.env_vars.items())],
                        "resources": {
                            "limits": {"cpu": args.cpu, "memory": args.memory},
                            # Instance-based billing: runs go on after POST /runs answers 202,
                            # and with request-based billing Cloud Run throttles the CPU outside
                            # requests. https://cloud.google.com/run/docs/configuring/billing-settings
                            # With min instances 0 an idle service still costs nothing.
                            "cpu_idle": False,
                            "startup_cpu_boost": True,
                        },
                        "startup_probe": {
                            "http_get": {"path": "/healthz", "port": CONTAINER_PORT},
                            "period_seconds": 3,
                            "failure_threshold": 20,
                        },
                    }
                ],
            },
            opts=child,
        )

        # Callers' resources (schedules, workflows) wait for their grant: `invoker_grants`.
        self.invoker_grants: dict[str, cloudrunv2.ServiceIamMember] = {}
        for workload, member in args.invokers.items():
            self.invoker_grants[workload] = cloudrunv2.ServiceIamMember(
                f"invoker-{workload}",
                project=args.project,
                location=args.region,
                name=self.service.name,
                role="roles/run.invoker",
                member=member,
                opts=child,
            )

        projects.IAMMember(
            "bigquery-job-user",
            project=args.project,
            role="roles/bigquery.jobUser",
            member=args.service_account_member,
            opts=child,
        )

        self.uri: pulumi.Output[str] = self.service.uri
        self.service_name: pulumi.Output[str] = self.service.name
        self.register_outputs({"uri": self.uri, "name": self.service_name})
