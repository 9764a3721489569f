"""The IAM contract: every call a workload makes is granted to the account it runs as, by infra.

`check` compares what the recorded calls need (`api_calls.Need`) with what the Pulumi program
grants (`grants.Deployed`), using Google's role tables (`permissions.ROLES`), and returns:
- findings: a needed permission no grant gives (naming the call, the permission, the account
  and what infra does grant that account there); a workload that does not run as the account
  infra provisions for it; a recorded call this test cannot map; a BigQuery job call without
  its location (issue 9 item 13: in a region such as europe-north1, jobs.get answers 404);
- the grants no recorded call uses (remove each, or justify it beside the grant).

When a workload runs as another account than infra intends (dbt and Dataform on the job-runner's
account), its calls are checked under both: today's account, and the intended one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tests.iam.api_calls import PROJECT, Analysis, Need, Resource
from tests.iam.grants import Deployed, Grant
from tests.iam.permissions import PROJECT_ONLY, ROLES


@dataclass(frozen=True, order=True)
class Finding:
    """One breach of the contract. `key` is what KNOWN_GAPS lists."""

    kind: str  # not-granted | identity | unmapped | no-location
    workload: str
    account: str
    permission: str
    resource: str
    message: str

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.kind, self.workload, self.account, self.permission, self.resource)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, order=True)
class UnusedGrant:
    grant: Grant
    reason: str

    def __str__(self) -> str:
        return f"{self.grant.member}: {self.grant} -- {self.reason}"


@dataclass
class Report:
    findings: list[Finding]
    unused: list[UnusedGrant]
    # (account, permission, resource) -> the grants that give it, for the README table.
    granted_by: dict[tuple[str, str, Resource], list[Grant]]


def is_granted_by(grant: Grant, account: str, permission: str, resource: Resource) -> bool:
    """Whether `grant` gives `account` `permission` on `resource` (directly or inherited)."""
    if grant.member != account or grant.resource not in resource.get_ancestors():
        return False
    rule = ROLES.get(grant.role)
    if rule is None or permission not in rule.permissions:
        return False
    return permission not in PROJECT_ONLY or grant.resource == PROJECT


def get_impersonation_needs(deployed: Deployed) -> set[Need]:
    """The job-runner mints an access token of each account it runs dbt or Dataform as."""
    source = "https://cloud.google.com/iam/docs/service-account-impersonation"
    runner = deployed.acting["job-runner"]
    return {
        Need(
            "job-runner",
            "iamcredentials.generateAccessToken",
            "iam.serviceAccounts.getAccessToken",
            Resource("account", account),
            source,
            f"to run {workload} as {account}",
        )
        for workload in ("dbt", "dataform")
        if (account := deployed.acting.get(workload, runner)) != runner
    }


def check(
    analysis: Analysis, deployed: Deployed, *, region: str | None, workloads: Iterable[str]
) -> Report:
    """Check the recorded needs of `workloads` against the deployment's grants."""
    findings: set[Finding] = set()
    granted_by: dict[tuple[str, str, Resource], list[Grant]] = {}
    needs = analysis.needs | get_impersonation_needs(deployed)
    ran = set(workloads)
    for workload in sorted(ran):
        acting, intended = deployed.acting.get(workload), deployed.intended.get(workload)
        if acting != intended:
            findings.add(
                Finding(
                    "identity",
                    workload,
                    str(acting),
                    "",
                    "",
                    f"{workload} runs as {acting}, but infra provisions {intended} for it "
                    f"(the job-runner's settings ignore the account infra passes)",
                )
            )
    missing: dict[tuple[str, str, str, Resource], list[Need]] = {}
    for need in sorted(needs):
        if not need.permission:
            continue
        accounts = {deployed.acting.get(need.workload, need.workload)}
        accounts.add(deployed.intended.get(need.workload, need.workload))
        for account in sorted(accounts):
            key = (account, need.permission, need.resource)
            grants = [g for g in deployed.grants if is_granted_by(g, account, *key[1:])]
            known = granted_by.setdefault(key, [])
            known.extend(g for g in grants if g not in known)
            if not grants:
                # Infra grants per dataset at the finest: report a table's gap on its dataset.
                where = (
                    need.resource.get_ancestors()[1]
                    if need.resource.level == "table"
                    else need.resource
                )
                missing.setdefault((need.workload, account, need.permission, where), []).append(
                    need
                )
    for (workload, account, permission, resource), found in missing.items():
        there = [
            str(g)
            for g in deployed.grants
            if g.member == account and g.resource in resource.get_ancestors()
        ]
        calls = "; ".join(sorted({_describe_call(n) for n in found}))
        findings.add(
            Finding(
                "not-granted",
                workload,
                account,
                permission,
                str(resource),
                f"{workload} as {account} needs {permission} on {resource}, for {calls}; "
                f"infra grants {account} there: {', '.join(there) or 'nothing'}",
            )
        )
    for call in analysis.unmapped:
        findings.add(
            Finding(
                "unmapped",
                call.workload,
                "",
                "",
                call.path,
                f"{call.workload}: {call.verb} {call.path} is not mapped to an API method "
                "(add it to tests/iam/api_calls.py and its permission to permissions.py)",
            )
        )
    unlocated: dict[tuple[str, str], list[str]] = {}
    for job in analysis.job_calls:
        if region and not job.location:
            unlocated.setdefault((job.workload, job.method), []).append(job.job_id)
    for (workload, method), jobs in unlocated.items():
        findings.add(
            Finding(
                "no-location",
                workload,
                "",
                "",
                method,
                f"{workload}: {method} without the job's location, for {len(jobs)} job(s) such "
                f"as {sorted(jobs)[0]} (the environment's region is {region}; there BigQuery "
                "answers a job call without location with 404)",
            )
        )
    return Report(sorted(findings), get_unused(deployed, granted_by), granted_by)


def _describe_call(need: Need) -> str:
    target = f" {need.resource.name}" if need.resource.level == "table" else ""
    detail = f" ({need.detail})" if need.detail else ""
    return f"{need.method}{target}{detail}"


def get_unused(
    deployed: Deployed, granted_by: dict[tuple[str, str, Resource], list[Grant]]
) -> list[UnusedGrant]:
    """Grants to accounts that made calls, whose permissions no recorded call used."""
    used = {g for grants in granted_by.values() for g in grants}
    accounts = {a for a in (*deployed.acting.values(), *deployed.intended.values())}
    unused = []
    for grant in deployed.grants:
        if grant in used:
            continue
        if grant.member in accounts:
            unused.append(UnusedGrant(grant, "no recorded call uses it"))
        else:
            unused.append(UnusedGrant(grant, "its member makes no call the local stack records"))
    return sorted(unused)
