"""Findings of the IAM contract that other work closes, and grants no local call can use.

`KNOWN_GAPS` keeps the branch green while issue 9's items 6, 7 and 13 are fixed on other
branches: each entry is the key of one finding (`Finding.key`: kind, workload, account,
permission, resource) and why it is allowed for now. The lead empties it after merging those
fixes; `test_every_known_gap_is_still_found` fails as soon as an entry no longer matches a
finding, so the list can only shrink.

`JUSTIFIED_GRANTS`: grant (Pulumi resource name) -> why it stays although no recorded call uses
it. Unused grants not listed here are printed as UNJUSTIFIED in the test summary: remove them
from infra, or justify them here and beside the grant.
"""

from __future__ import annotations

_ITEM6 = "issue 9 item 6 (h7): the job-runner creates datasets when a destination is missing"
_ITEM7_ID = "issue 9 item 7 (h3): dbt/Dataform ignore the accounts infra passes the job-runner"
_ITEM7_DBT = "issue 9 item 7 (h1): the dbt account may not write the datasets its models write"
_ITEM7_DF = (
    "issue 9 item 7 (h1/h3): the Dataform account (and the job-runner it runs as today) may not "
    "write mart nor its assertion dataset; the CLI's CREATE SCHEMA needs datasets.create"
)
_ITEM7_JOBS = (
    "issue 9 item 7: once Dataform runs as its own account, the job-runner reads its jobs "
    "(per-action stats, transforms/job_stats.py) and needs bigquery.jobs.get on the project"
)
_ITEM13 = "issue 9 item 13: transforms/job_stats.py reads Dataform's jobs without their location"
_SOURCES = (
    "new finding: SQL jobs read source datasets outside the spec (raw.*), which infra never "
    "grants; the spec needs declared sources (or the README a grant step)"
)
_DF_WRITE = ("bigquery.tables.create", "bigquery.tables.update", "bigquery.tables.updateData")

KNOWN_GAPS: dict[tuple[str, str, str, str, str], str] = {
    ("identity", "dbt", "job-runner", "", ""): _ITEM7_ID,
    ("identity", "dataform", "job-runner", "", ""): _ITEM7_ID,
    ("not-granted", "job-runner", "job-runner", "bigquery.datasets.create", "project"): _ITEM6,
    **{("not-granted", "dbt", "dbt", p, "dataset mart"): _ITEM7_DBT for p in _DF_WRITE},
    **{
        ("not-granted", "dataform", account, p, f"dataset {dataset}"): _ITEM7_DF
        for account in ("dataform", "job-runner")
        for dataset in ("dataform_assertions", "mart")
        for p in _DF_WRITE
        if (account, dataset) != ("job-runner", "mart")
    },
    **{
        (
            "not-granted",
            "dataform",
            account,
            "bigquery.tables.getData",
            "dataset dataform_assertions",
        ): _ITEM7_DF
        for account in ("dataform", "job-runner")
    },
    ("not-granted", "dataform", "dataform", "bigquery.datasets.create", "project"): _ITEM7_DF,
    ("not-granted", "dataform", "job-runner", "bigquery.datasets.create", "project"): _ITEM7_DF,
    ("not-granted", "job-runner", "job-runner", "bigquery.jobs.get", "project"): _ITEM7_JOBS,
    ("no-location", "job-runner", "", "", "bigquery.jobs.get"): _ITEM13,
    ("not-granted", "job-runner", "job-runner", "bigquery.tables.getData", "dataset raw"): _SOURCES,
}

_LOGS = (
    "Workflows writes the execution's call logs (call_log_level) as the workflow's account: "
    "logging.logEntries.create; the local engine writes none. "
    "https://cloud.google.com/workflows/docs/log-workflow"
)
_PUBSUB = (
    "the Pub/Sub service agent mints the push subscription's OIDC tokens and dead-letters "
    "(publisher on the dead-letter topic, subscriber on the subscription); no local Pub/Sub "
    "agent. https://cloud.google.com/pubsub/docs/handling-failures#grant_forwarding_permissions"
)
_BUILD = (
    "Cloud Build of the gen2 ingest functions runs as this account: reads the source object, "
    "pushes the image, writes build logs; nothing builds locally. "
    "https://cloud.google.com/functions/docs/securing/build-custom-sa"
)

JUSTIFIED_GRANTS: dict[str, str] = {
    "log-writer-wf-backfill": _LOGS,
    "log-writer-wf-backfill-chunk": _LOGS,
    "log-writer-wf-run-partition": _LOGS,
    "dbt-impersonation": "the job-runner mints dbt's access tokens once it impersonates (item 7)",
    "dataform-act-as": "managed Dataform repositories run as the Dataform account (GCP only)",
    "invoker-scheduler": "Cloud Scheduler calls POST /triggers/<pipeline> as this account",
    "invoker-operator-0": "operators call the job-runner (CLI, curl) with their own identity",
    "workflows-invoker-operator-0": "operators start backfill executions by hand",
    "invoker-orders": "the push subscription of topic orders calls the function as this account",
    "invoker-customers": "the push subscription of topic customers calls the function as this account",
    "pubsub-agent-token-creator": _PUBSUB,
    "dead-letter-publisher-orders": _PUBSUB,
    "dead-letter-publisher-customers": _PUBSUB,
    "dead-letter-subscriber-orders": _PUBSUB,
    "dead-letter-subscriber-customers": _PUBSUB,
    "build-log-writer": _BUILD,
    "build-source-reader": _BUILD,
    "build-image-writer": _BUILD,
}
