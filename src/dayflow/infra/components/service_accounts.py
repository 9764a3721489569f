"""ServiceAccounts: one least-privilege identity per workload, created before anything uses it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_gcp import serviceaccount

from dayflow.infra.components import get_child_options
from dayflow.infra.naming import get_account_id

# Workload keys.
JOB_RUNNER = "job-runner"
SCHEDULER = "scheduler"
WORKFLOWS = "workflows"
OPERATOR = "operator"
INGEST = "ingest"
INGEST_INVOKER = "ingest-invoker"
INGEST_BUILD = "ingest-build"
DBT = "dbt"
DATAFORM = "dataform"


# `infra.catalog` workload -> the account it runs as.
WORKLOADS = {"job_runner": JOB_RUNNER, "ingest": INGEST, "dbt": DBT, "dataform": DATAFORM}


def get_workloads(*, topics: bool, dbt: bool, dataform: bool, operators: bool) -> dict[str, str]:
    """Workload key -> purpose, for the workloads this stack runs (no unused identities).

    All Workflows run as one account: the job-runner tells its callers apart by account
    (scheduler, Workflows, operators), and its settings name one Workflows account.
    """
    workloads = {
        JOB_RUNNER: "dayflow job-runner (Cloud Run): runs jobs, writes the ledger",
        SCHEDULER: "Cloud Scheduler: calls the job-runner's trigger endpoint",
        WORKFLOWS: "dayflow Workflows: call the job-runner, start executions",
    }
    if operators:
        workloads[OPERATOR] = "operators impersonate it to call the job-runner (CLI, curl)"
    if topics:
        workloads |= {
            INGEST: "ingest function: writes ingest and dead-letter tables",
            INGEST_INVOKER: "invokes the ingest functions (Pub/Sub push or Eventarc)",
            INGEST_BUILD: "Cloud Build of the ingest functions",
        }
    if dbt:
        workloads[DBT] = "dbt jobs, impersonated by the job-runner"
    if dataform:
        workloads[DATAFORM] = "Dataform workflow invocations"
    return workloads


@dataclass(frozen=True)
class ServiceAccountsArgs:
    project: str
    # Workload key -> what the identity is for (becomes the account's description).
    workloads: Mapping[str, str]


class ServiceAccounts(pulumi.ComponentResource):
    """Creates one service account per workload, `dayflow-<workload>`.

    Secure defaults: no keys are ever created (workloads use attached identities), and no role
    is granted here. Each component grants the roles its own resources need, on those resources
    where GCP allows it, so every grant sits next to the reason for it.
    """

    def __init__(
        self, name: str, args: ServiceAccountsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:ServiceAccounts", name, None, opts)
        self._accounts: dict[str, serviceaccount.Account] = {}
        for workload, purpose in args.workloads.items():
            self._accounts[workload] = serviceaccount.Account(
                f"sa-{workload}",
                project=args.project,
                account_id=get_account_id(workload),
                display_name=f"dayflow {workload}",
                description=purpose,
                opts=get_child_options(self, opts),
            )
        self.emails = {w: a.email for w, a in self._accounts.items()}
        self.register_outputs({"emails": self.emails})

    def get(self, workload: str) -> serviceaccount.Account:
        """The account of a workload; a KeyError names the known workloads."""
        try:
            return self._accounts[workload]
        except KeyError:
            raise KeyError(
                f"no service account for workload {workload!r} "
                f"(expected one of: {', '.join(self._accounts)})"
            ) from None

    def has(self, workload: str) -> bool:
        return workload in self._accounts
