"""ProjectApis: the Google APIs the stack and its workloads call, enabled by the stack itself.

Only two APIs must exist before the first `pulumi up` (README, deploy section): Service Usage,
which enabling the others goes through, and Cloud Resource Manager, which the provider reads the
project with. Every other API is enabled here, and each component `depends_on` the APIs it
needs, so a fresh project deploys with one `pulumi up`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pulumi
from pulumi_gcp import projects

ARTIFACT_REGISTRY = "artifactregistry.googleapis.com"
BIGQUERY = "bigquery.googleapis.com"
CLOUD_BUILD = "cloudbuild.googleapis.com"
CLOUD_FUNCTIONS = "cloudfunctions.googleapis.com"
DATAFORM = "dataform.googleapis.com"
# With the Data Lineage API on, BigQuery reports each job's lineage to Dataplex by itself
# (https://cloud.google.com/dataplex/docs/use-lineage).
DATA_LINEAGE = "datalineage.googleapis.com"
EVENTARC = "eventarc.googleapis.com"
IAM = "iam.googleapis.com"
# The job-runner mints tokens of the dbt and Dataform accounts (impersonation).
IAM_CREDENTIALS = "iamcredentials.googleapis.com"
LOGGING = "logging.googleapis.com"
# Alert policies and notification channels (dayflow.infra.components.alerts).
MONITORING = "monitoring.googleapis.com"
PUBSUB = "pubsub.googleapis.com"
RESOURCE_MANAGER = "cloudresourcemanager.googleapis.com"
RUN = "run.googleapis.com"
SCHEDULER = "cloudscheduler.googleapis.com"
SECRET_MANAGER = "secretmanager.googleapis.com"  # noqa: S105 (an API name)
STORAGE = "storage.googleapis.com"
WORKFLOWS = "workflows.googleapis.com"
# Starting executions (the job-runner, the backfill workflow) is a separate API from Workflows.
WORKFLOW_EXECUTIONS = "workflowexecutions.googleapis.com"

# Google-managed service agents the stack grants roles to, by the API that owns them.
AGENT_APIS = (PUBSUB, DATAFORM)


@dataclass(frozen=True)
class ProjectApisArgs:
    project: str
    apis: tuple[str, ...]
    # APIs whose service agent the stack grants roles to (a subset of AGENT_APIS and `apis`).
    agents: tuple[str, ...] = ()


class ProjectApis(pulumi.ComponentResource):
    """Enables the stack's APIs and creates the service agents it grants roles to.

    Creates:
    - `projects.Service` per API, with `disable_on_destroy=False`: destroying a stack never
      switches an API off under other users of the project;
    - `projects.ServiceIdentity` per agent API (Pub/Sub for dead-lettering and push OIDC tokens,
      Dataform for the git token and the custom account): the agent exists, and its `member` is
      known, before any grant to it is made.

    Secure defaults: nothing is granted here; APIs are enabled, never disabled.
    """

    def __init__(
        self, name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:ProjectApis", name, None, opts)
        self._services: dict[str, projects.Service] = {}
        for api in dict.fromkeys(args.apis):
            self._services[api] = projects.Service(
                f"api-{api.split('.')[0]}",
                project=args.project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self._agents: dict[str, projects.ServiceIdentity] = {}
        for api in args.agents:
            self._agents[api] = projects.ServiceIdentity(
                f"agent-{api.split('.')[0]}",
                project=args.project,
                service=api,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self._services[api]]),
            )
        self.register_outputs({"apis": list(self._services)})

    def get(self, apis: Iterable[str]) -> list[pulumi.Resource]:
        """The `projects.Service` resources of `apis`; a KeyError names an API not enabled."""
        try:
            return [self._services[a] for a in apis]
        except KeyError as err:
            raise KeyError(f"API {err.args[0]!r} is not enabled by this stack") from None

    def get_agent(self, api: str) -> projects.ServiceIdentity:
        """The service agent of `api` (its `member` is `serviceAccount:service-N@gcp-sa-...`)."""
        return self._agents[api]
