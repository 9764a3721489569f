"""What the Pulumi program grants, and which account each workload runs as, under Pulumi mocks.

Every `*IAMMember`/`*IamMember` resource the program registers becomes a `Grant`: role, member,
and the resource it sits on at its level (project, dataset, table, service, topic, ...), named
as the contract test names resources (datasets without the environment prefix). Members that
are dayflow's service accounts are named by their workload key (`job-runner`, `dbt`, ...).

Workload identities come from the resources that run them: the job-runner's Cloud Run service
account, the ingest function's service account, each workflow's service account. dbt and
Dataform run inside the job-runner: infra hands the job-runner the accounts they should run as
(`JOB_RUNNER_DBT_SERVICE_ACCOUNT`, `JOB_RUNNER_DATAFORM_SERVICE_ACCOUNT`); they take effect only
if the job-runner's settings read them, otherwise dbt and Dataform run as the job-runner.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.iam.api_calls import PROJECT, Resource

ACCOUNT_TYPE = "gcp:serviceaccount/account:Account"
SERVICE_TYPE = "gcp:cloudrunv2/service:Service"
FUNCTION_TYPE = "gcp:cloudfunctionsv2/function:Function"
WORKFLOW_TYPE = "gcp:workflows/workflow:Workflow"
_IAM_TYPE = re.compile(r"^gcp:(?P<module>\w+)/\w*iammember:\w*iammember$", re.I)
# Settings field of the job-runner that makes dbt/Dataform run as their own account.
TRANSFORM_SETTINGS = {
    "dbt": ("JOB_RUNNER_DBT_SERVICE_ACCOUNT", "dbt_service_account"),
    "dataform": ("JOB_RUNNER_DATAFORM_SERVICE_ACCOUNT", "dataform_service_account"),
}


@dataclass(frozen=True, order=True)
class Grant:
    """`role` for `member` on `resource`, as registered by resource `name`."""

    member: str  # a workload key (`job-runner`) or the IAM member string of anyone else
    role: str
    resource: Resource
    name: str

    def __str__(self) -> str:
        return f"{self.role} on {self.resource} ({self.name})"


@dataclass
class Deployed:
    """The grants of one stack, and who runs as whom."""

    grants: list[Grant]
    # Workload (`job-runner`, `ingest`, `dbt`, `wf-backfill`, ...) -> account it acts as now.
    acting: dict[str, str]
    # Workload -> the account infra provisions for it (differs from `acting` when the
    # deployable ignores the setting infra gives it).
    intended: dict[str, str]
    # Workflow id -> name of the Cloud Run service its JOB_RUNNER_URL points at.
    workflow_targets: dict[str, str] = field(default_factory=dict)
    dataset_prefix: str = ""

    def without(self, grant: Grant) -> Deployed:
        """The same deployment with one grant removed (for the removed-grant test)."""
        grants = [g for g in self.grants if g != grant]
        return Deployed(
            grants, self.acting, self.intended, self.workflow_targets, self.dataset_prefix
        )


def _account_key(resource_name: str) -> str:
    return resource_name.removeprefix("sa-")


def _email(value: str) -> str:
    return value.rsplit("/", 1)[-1].removeprefix("serviceAccount:")


def _grant_resource(module: str, state: dict[str, Any], logical: Any) -> Resource:
    if module == "projects":
        return PROJECT
    if module == "bigquery":
        dataset = logical(state["datasetId"])
        table = state.get("tableId")
        return Resource("table", f"{dataset}.{table}") if table else Resource("dataset", dataset)
    if module == "cloudrunv2":
        return Resource("service", state["name"])
    if module == "serviceaccount":
        return Resource("account", _email(state["serviceAccountId"]))
    for key in ("topic", "subscription", "repository", "secretId", "bucket", "name"):
        if key in state:
            return Resource(module, str(state[key]))
    return Resource(module, "?")


def resolve(
    resources: Iterable[Any], settings_fields: Iterable[str], dataset_prefix: str
) -> Deployed:
    """Read grants and identities from a `pulumi_harness.Deployment`'s resources.

    Args:
        resources: the registered resources (`type`, `name`, `state`).
        settings_fields: the field names of the job-runner's settings class.
        dataset_prefix: the stack environment's dataset prefix (`dev_`), removed from ids.
    """
    resources = list(resources)
    fields = set(settings_fields)
    emails = {r.state["email"]: _account_key(r.name) for r in resources if r.type == ACCOUNT_TYPE}

    def who(member_or_email: str) -> str:
        return emails.get(_email(member_or_email), member_or_email)

    service = next(
        r
        for r in resources
        if r.type == SERVICE_TYPE and "job-runner" in r.name + r.state.get("name", "")
    )
    env = {e["name"]: e["value"] for c in service.state["template"]["containers"] for e in c.get("envs", [])}  # fmt: skip
    prefix = dataset_prefix

    def logical(dataset_id: str) -> str:
        return dataset_id.removeprefix(prefix)

    grants = []
    for r in resources:
        match = _IAM_TYPE.match(r.type)
        if match and "role" in r.state and "member" in r.state:
            resource = _grant_resource(match["module"], dict(r.state), logical)
            if resource.level == "account":
                resource = Resource("account", who(resource.name))
            grants.append(Grant(who(r.state["member"]), r.state["role"], resource, r.name))

    job_runner = who(service.state["template"]["serviceAccount"])
    acting = {"job-runner": job_runner}
    functions = [r for r in resources if r.type == FUNCTION_TYPE]
    if functions:
        acting["ingest"] = who(functions[0].state["serviceConfig"]["serviceAccountEmail"])
    uris = {r.state.get("uri"): r.state["name"] for r in resources if r.type == SERVICE_TYPE}
    targets = {}
    for r in resources:
        if r.type == WORKFLOW_TYPE:
            name = r.state["name"]
            acting["wf-" + name.replace("_", "-")] = who(r.state["serviceAccount"])
            url = (r.state.get("userEnvVars") or {}).get("JOB_RUNNER_URL")
            if url in uris:
                targets[name] = uris[url]
    intended = dict(acting)
    for workload, (variable, field_name) in TRANSFORM_SETTINGS.items():
        if variable in env:
            intended[workload] = who(env[variable])
            acting[workload] = intended[workload] if field_name in fields else job_runner
        else:
            intended[workload] = acting[workload] = job_runner
    return Deployed(sorted(grants), acting, intended, targets, prefix)
