"""CalledServices: the domain's own Cloud Run services that `http` jobs call, and the job-runner's
right to call each of them."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
from pulumi_gcp import cloudrunv2, projects

from dayflow.infra.components import get_child_options

RUN_INVOKER = "roles/run.invoker"
JOB_USER = "roles/bigquery.jobUser"


@dataclass(frozen=True)
class CalledService:
    """A service of the spec (`services.<key>`) by its Cloud Run name."""

    key: str
    cloud_run_name: str
    # The `serviceAccount:` member it runs as, when the spec names it (`service_account`): it
    # gets Job User here, and write access on its datasets from Warehouse.
    account_member: str | None = None


@dataclass(frozen=True)
class CalledServicesArgs:
    project: str
    region: str
    services: tuple[CalledService, ...]
    # The job-runner's `serviceAccount:` member: the only identity granted here.
    job_runner_member: pulumi.Input[str]


class CalledServices(pulumi.ComponentResource):
    """Looks up each called service and lets the job-runner invoke exactly those services.

    Creates:
    - `cloudrunv2.ServiceIamMember` `roles/run.invoker` for the job-runner's account on each
      service, in the environment's project and region
      (https://cloud.google.com/run/docs/authenticating/service-to-service): the job-runner calls
      them with an ID token whose audience is the service's URL;
    - `projects.IAMMember` `roles/bigquery.jobUser` for each service whose account the spec names
      (running queries is project-scoped; its data access is dataset-level, from Warehouse).

    Reads (no resource): each service's URL (`cloudrunv2.get_service`), exposed as `urls_json`
    for `JOB_RUNNER_SERVICE_URLS`. The services themselves are the domain team's (image, their
    own service accounts and data grants): dayflow creates none of them, and a missing one fails
    the deployment naming it. Secure defaults: one grant per service, never a project-level
    invoker role, never `allUsers`.
    """

    def __init__(
        self, name: str, args: CalledServicesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:CalledServices", name, None, opts)
        child = get_child_options(self, opts)
        self.invoker_grants: dict[str, cloudrunv2.ServiceIamMember] = {}
        urls: dict[str, pulumi.Output[str]] = {}
        for service in args.services:
            found = cloudrunv2.get_service_output(
                name=service.cloud_run_name,
                location=args.region,
                project=args.project,
                # After the APIs this component waits for (Cloud Run's).
                opts=pulumi.InvokeOutputOptions.from_resource_options(child),
            )
            urls[service.key] = found.uri
            self.invoker_grants[service.key] = cloudrunv2.ServiceIamMember(
                f"calls-{service.cloud_run_name}",
                project=args.project,
                location=args.region,
                name=service.cloud_run_name,
                role=RUN_INVOKER,
                member=args.job_runner_member,
                opts=child,
            )
            if service.account_member is not None:
                projects.IAMMember(
                    f"bigquery-job-user-{service.cloud_run_name}",
                    project=args.project,
                    role=JOB_USER,
                    member=service.account_member,
                    opts=child,
                )
        self.urls_json: pulumi.Output[str] = pulumi.Output.all(**urls).apply(
            lambda found: json.dumps(dict(sorted(found.items())))
        )
        self.register_outputs({"urls": self.urls_json})
