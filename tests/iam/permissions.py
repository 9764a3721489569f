"""Two tables from Google's IAM documentation: what each API method needs, what each role holds.

`METHODS`: API method -> (permission, the level of resource it is checked on, source). A method
whose page says it needs no IAM permission (e.g. reading one's own jobs) has permission None.
`ROLES`: predefined role -> its permissions as its reference page lists them, for the services
dayflow calls (a role's permissions in other services, e.g. Dataplex search in the BigQuery
data roles, are left out: the check only asks whether a granted role contains the permission a
call needs, and no dayflow call needs those).

Each row cites its page. Every role the Pulumi program grants must have a row here, or the
contract test fails (tests/iam/test_iam_contract.py), so a new grant cannot slip past it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["project", "dataset", "table", "service", "workflow", "account"]

_BQ_REST = "https://cloud.google.com/bigquery/docs/reference/rest/v2"
_BQ_ROLES = "https://cloud.google.com/iam/docs/roles-permissions/bigquery"
_BQ_ACCESS = "https://cloud.google.com/bigquery/docs/access-control"


@dataclass(frozen=True)
class MethodRule:
    """The permission an API method needs, on which level of resource, per `source`."""

    permission: str | None
    level: Level
    source: str


METHODS: dict[str, MethodRule] = {
    # BigQuery REST v2. Each method page has an "IAM Permissions" section.
    "bigquery.jobs.insert": MethodRule(
        "bigquery.jobs.create", "project", f"{_BQ_REST}/jobs/insert"
    ),
    "bigquery.jobs.query": MethodRule("bigquery.jobs.create", "project", f"{_BQ_REST}/jobs/query"),
    # "When you create a job, you are automatically granted bigquery.jobs.get and
    # bigquery.jobs.update for that job" (https://cloud.google.com/bigquery/docs/jobs-overview).
    # Reading someone else's job needs bigquery.jobs.get on the project: see JOB_OF_OTHERS.
    "bigquery.jobs.get": MethodRule(None, "project", f"{_BQ_REST}/jobs/get"),
    "bigquery.jobs.getQueryResults": MethodRule(
        None, "project", f"{_BQ_REST}/jobs/getQueryResults"
    ),
    "bigquery.jobs.cancel": MethodRule(None, "project", f"{_BQ_REST}/jobs/cancel"),
    # "Requires no specific IAM permission(s) to use this method. Users are able to list the
    # jobs they created."
    "bigquery.jobs.list": MethodRule(None, "project", f"{_BQ_REST}/jobs/list"),
    "bigquery.datasets.get": MethodRule(
        "bigquery.datasets.get", "dataset", f"{_BQ_REST}/datasets/get"
    ),
    "bigquery.datasets.insert": MethodRule(
        "bigquery.datasets.create", "project", f"{_BQ_REST}/datasets/insert"
    ),
    # "Lists all datasets in the specified project to which the user has been granted the
    # READER dataset role": the answer is filtered, the call itself needs nothing.
    "bigquery.datasets.list": MethodRule(None, "project", f"{_BQ_REST}/datasets/list"),
    "bigquery.tables.get": MethodRule("bigquery.tables.get", "table", f"{_BQ_REST}/tables/get"),
    "bigquery.tables.list": MethodRule(
        "bigquery.tables.list", "dataset", f"{_BQ_REST}/tables/list"
    ),
    "bigquery.tables.insert": MethodRule(
        "bigquery.tables.create", "dataset", f"{_BQ_REST}/tables/insert"
    ),
    "bigquery.tables.patch": MethodRule(
        "bigquery.tables.update", "table", f"{_BQ_REST}/tables/patch"
    ),
    "bigquery.tables.update": MethodRule(
        "bigquery.tables.update", "table", f"{_BQ_REST}/tables/update"
    ),
    "bigquery.tables.delete": MethodRule(
        "bigquery.tables.delete", "table", f"{_BQ_REST}/tables/delete"
    ),
    "bigquery.routines.list": MethodRule(
        "bigquery.routines.list", "dataset", f"{_BQ_REST}/routines/list"
    ),
    "bigquery.tabledata.insertAll": MethodRule(
        "bigquery.tables.updateData", "table", f"{_BQ_REST}/tabledata/insertAll"
    ),
    "bigquery.tabledata.list": MethodRule(
        "bigquery.tables.getData", "table", f"{_BQ_REST}/tabledata/list"
    ),
    # Cloud Run: calling a service whose IAM invoker check is on.
    # https://cloud.google.com/run/docs/securing/managing-access
    "run.routes.invoke": MethodRule(
        "run.routes.invoke", "service", "https://cloud.google.com/run/docs/securing/managing-access"
    ),
    # Workflows connector calls of the Workflow Executions API.
    # https://cloud.google.com/workflows/docs/access-control
    "workflowexecutions.executions.run": MethodRule(
        "workflows.executions.create",
        "workflow",
        "https://cloud.google.com/workflows/docs/access-control",
    ),
    "workflowexecutions.executions.create": MethodRule(
        "workflows.executions.create",
        "workflow",
        "https://cloud.google.com/workflows/docs/access-control",
    ),
    "workflowexecutions.executions.get": MethodRule(
        "workflows.executions.get",
        "workflow",
        "https://cloud.google.com/workflows/docs/access-control",
    ),
}

# Reading the metadata of a job another principal created (dayflow's job-runner reads the jobs
# of the dbt/Dataform runs it started for their per-node statistics): "bigquery.jobs.get" on
# the project. https://cloud.google.com/bigquery/docs/managing-jobs#view-job
JOB_OF_OTHERS = MethodRule(
    "bigquery.jobs.get", "project", "https://cloud.google.com/bigquery/docs/managing-jobs"
)

# What a query job does to the tables its SQL names, per statement kind. "To run a query job,
# you need bigquery.jobs.create on the project ... and bigquery.tables.getData on all tables
# and views that the query references"; DML needs bigquery.tables.updateData (and getData for
# the rows it reads); DDL CREATE needs bigquery.tables.create, CREATE OR REPLACE also
# bigquery.tables.update and bigquery.tables.updateData, DROP bigquery.tables.delete,
# CREATE SCHEMA bigquery.datasets.create on the project.
# https://cloud.google.com/bigquery/docs/running-queries#required_permissions
# https://cloud.google.com/bigquery/docs/data-manipulation-language#required_permissions
# https://cloud.google.com/bigquery/docs/reference/standard-sql/data-definition-language
SQL_SOURCE = "https://cloud.google.com/bigquery/docs/running-queries#required_permissions"
SQL_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "read": ("bigquery.tables.getData",),
    "insert": ("bigquery.tables.updateData",),
    "dml": ("bigquery.tables.updateData", "bigquery.tables.getData"),
    "create": ("bigquery.tables.create", "bigquery.tables.updateData"),
    "create_or_replace": (
        "bigquery.tables.create",
        "bigquery.tables.update",
        "bigquery.tables.updateData",
    ),
    "drop": ("bigquery.tables.delete",),
    "alter": ("bigquery.tables.update",),
}

_BQ_VIEWER = frozenset(
    {
        "bigquery.datasets.get",
        "bigquery.datasets.getIamPolicy",
        "bigquery.models.export",
        "bigquery.models.getData",
        "bigquery.models.getMetadata",
        "bigquery.models.list",
        "bigquery.routines.get",
        "bigquery.routines.list",
        "bigquery.tables.createSnapshot",
        "bigquery.tables.export",
        "bigquery.tables.get",
        "bigquery.tables.getData",
        "bigquery.tables.getIamPolicy",
        "bigquery.tables.list",
        "bigquery.tables.replicateData",
        "resourcemanager.projects.get",
    }
)


@dataclass(frozen=True)
class RoleRule:
    permissions: frozenset[str]
    source: str


ROLES: dict[str, RoleRule] = {
    "roles/bigquery.jobUser": RoleRule(
        frozenset(
            {
                "bigquery.config.get",
                "bigquery.jobs.create",
                "dataform.locations.get",
                "dataform.locations.list",
                "dataform.repositories.create",
                "dataform.repositories.list",
                "resourcemanager.projects.get",
                "resourcemanager.projects.list",
            }
        ),
        f"{_BQ_ROLES}#bigquery.jobUser",
    ),
    "roles/bigquery.dataViewer": RoleRule(_BQ_VIEWER, f"{_BQ_ROLES}#bigquery.dataViewer"),
    # bigquery.datasets.create is in the role but only means anything on a project: granted on
    # a dataset it cannot create datasets (the check applies it at project level only).
    "roles/bigquery.dataEditor": RoleRule(
        _BQ_VIEWER
        | {
            "bigquery.datasets.create",
            "bigquery.datasets.updateTag",
            "bigquery.models.create",
            "bigquery.models.delete",
            "bigquery.models.updateData",
            "bigquery.models.updateMetadata",
            "bigquery.routines.create",
            "bigquery.routines.delete",
            "bigquery.routines.update",
            "bigquery.tables.create",
            "bigquery.tables.delete",
            "bigquery.tables.restoreSnapshot",
            "bigquery.tables.update",
            "bigquery.tables.updateData",
            "bigquery.tables.updateTag",
        },
        f"{_BQ_ROLES}#bigquery.dataEditor",
    ),
    "roles/run.invoker": RoleRule(
        frozenset({"run.jobs.run", "run.routes.invoke"}),
        "https://cloud.google.com/iam/docs/roles-permissions/run#run.invoker",
    ),
    # Granted on each cloud_run_job's Cloud Run Job only, to the job-runner: executing with
    # overrides and cancelling executions need it
    # (https://cloud.google.com/run/docs/execute/jobs#override-job-configuration). Its
    # permissions on jobs, executions, tasks and operations (it has more, on services).
    "roles/run.developer": RoleRule(
        frozenset(
            {
                "run.jobs.create",
                "run.jobs.delete",
                "run.jobs.get",
                "run.jobs.list",
                "run.jobs.run",
                "run.jobs.runWithOverrides",
                "run.jobs.update",
                "run.executions.cancel",
                "run.executions.delete",
                "run.executions.get",
                "run.executions.list",
                "run.tasks.get",
                "run.tasks.list",
                "run.operations.get",
                "run.operations.list",
            }
        ),
        "https://cloud.google.com/iam/docs/roles-permissions/run#run.developer",
    ),
    "roles/workflows.invoker": RoleRule(
        frozenset(
            {
                "workflows.callbacks.send",
                "workflows.executions.cancel",
                "workflows.executions.create",
                "workflows.executions.get",
                "workflows.executions.list",
                "workflows.workflows.get",
            }
        ),
        "https://cloud.google.com/iam/docs/roles-permissions/workflows#workflows.invoker",
    ),
    "roles/logging.logWriter": RoleRule(
        frozenset({"logging.logEntries.create", "logging.logEntries.route"}),
        "https://cloud.google.com/iam/docs/roles-permissions/logging#logging.logWriter",
    ),
    "roles/iam.serviceAccountTokenCreator": RoleRule(
        frozenset(
            {
                "iam.serviceAccounts.get",
                "iam.serviceAccounts.getAccessToken",
                "iam.serviceAccounts.getOpenIdToken",
                "iam.serviceAccounts.implicitDelegation",
                "iam.serviceAccounts.list",
                "iam.serviceAccounts.signBlob",
                "iam.serviceAccounts.signJwt",
                "resourcemanager.projects.get",
            }
        ),
        "https://cloud.google.com/iam/docs/roles-permissions/iam#iam.serviceAccountTokenCreator",
    ),
    "roles/iam.serviceAccountUser": RoleRule(
        frozenset(
            {
                "iam.serviceAccounts.actAs",
                "iam.serviceAccounts.get",
                "iam.serviceAccounts.list",
                "resourcemanager.projects.get",
            }
        ),
        "https://cloud.google.com/iam/docs/roles-permissions/iam#iam.serviceAccountUser",
    ),
    "roles/dataform.editor": RoleRule(
        frozenset(
            {
                "dataform.compilationResults.create",
                "dataform.compilationResults.get",
                "dataform.workflowInvocations.create",
                "dataform.workflowInvocations.get",
                "dataform.workflowInvocations.query",
                "dataform.repositories.get",
            }
        ),
        "https://cloud.google.com/iam/docs/roles-permissions/dataform#dataform.editor",
    ),
    # Roles of identities that make no call the local stack can record (Cloud Build, the
    # Pub/Sub service agent, Eventarc, the Dataform agent); listed so every grant is known.
    "roles/pubsub.publisher": RoleRule(
        frozenset({"pubsub.topics.publish"}),
        "https://cloud.google.com/iam/docs/roles-permissions/pubsub#pubsub.publisher",
    ),
    "roles/pubsub.subscriber": RoleRule(
        frozenset(
            {
                "pubsub.snapshots.seek",
                "pubsub.subscriptions.consume",
                "pubsub.topics.attachSubscription",
            }
        ),
        "https://cloud.google.com/iam/docs/roles-permissions/pubsub#pubsub.subscriber",
    ),
    "roles/storage.objectViewer": RoleRule(
        frozenset({"resourcemanager.projects.get", "storage.objects.get", "storage.objects.list"}),
        "https://cloud.google.com/iam/docs/roles-permissions/storage#storage.objectViewer",
    ),
    "roles/artifactregistry.writer": RoleRule(
        frozenset(
            {
                "artifactregistry.dockerimages.get",
                "artifactregistry.dockerimages.list",
                "artifactregistry.files.get",
                "artifactregistry.files.list",
                "artifactregistry.repositories.downloadArtifacts",
                "artifactregistry.repositories.get",
                "artifactregistry.repositories.list",
                "artifactregistry.repositories.uploadArtifacts",
                "artifactregistry.tags.create",
                "artifactregistry.tags.get",
                "artifactregistry.tags.list",
                "artifactregistry.tags.update",
                "artifactregistry.versions.get",
                "artifactregistry.versions.list",
            }
        ),
        "https://cloud.google.com/iam/docs/roles-permissions/artifactregistry#artifactregistry.writer",
    ),
    "roles/secretmanager.secretAccessor": RoleRule(
        frozenset({"secretmanager.versions.access"}),
        "https://cloud.google.com/iam/docs/roles-permissions/secretmanager#secretmanager.secretAccessor",
    ),
    "roles/eventarc.eventReceiver": RoleRule(
        frozenset({"eventarc.events.receiveAuditLogWritten", "eventarc.events.receiveEvent"}),
        "https://cloud.google.com/iam/docs/roles-permissions/eventarc#eventarc.eventReceiver",
    ),
}

# Permissions that take effect only when granted on the project (a dataset-level grant of a
# role holding them cannot create datasets). https://cloud.google.com/bigquery/docs/datasets
PROJECT_ONLY = frozenset({"bigquery.datasets.create", "bigquery.jobs.create", "bigquery.jobs.get"})
ACCESS_CONTROL_SOURCE = _BQ_ACCESS
