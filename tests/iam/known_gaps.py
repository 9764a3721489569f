"""Findings of the IAM contract that are allowed for now, and grants no local call can use.

`KNOWN_GAPS`: the key of a finding (`Finding.key`: kind, workload, account, permission,
resource) -> why it is allowed for now. Empty: every call the workloads make is granted (issue
9's items 6, 7 and 13, and the source datasets, are fixed). `test_every_known_gap_is_still_found`
fails as soon as an entry no longer matches a finding, so the list can only shrink.

`JUSTIFIED_GRANTS`: grant (Pulumi resource name) -> why it stays although no recorded call uses
it (its member acts only in GCP: Cloud Build, Pub/Sub's agent, Cloud Scheduler, people). Unused
grants not listed here are printed as UNJUSTIFIED in the test summary: remove them from infra,
or justify them here and beside the grant.
"""

from __future__ import annotations

KNOWN_GAPS: dict[tuple[str, str, str, str, str], str] = {}

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

_OPERATOR = (
    "people impersonate the operator account (the CLI's --impersonate-service-account, the "
    "spec's impersonate_service_account): `dayflow backfill/executions --env` start and list "
    "Workflows executions and call the job-runner as it; the CLI makes no recorded call"
)

JUSTIFIED_GRANTS: dict[str, str] = {
    "log-writer-workflows": _LOGS,
    "invoker-scheduler": "Cloud Scheduler calls POST /triggers/<pipeline> as this account",
    "invoker-operator-0": "operators call the job-runner with their own ID token (`gcloud auth "
    "print-identity-token`, https://cloud.google.com/run/docs/authenticating/developers)",
    "workflows-invoker-operator-0": "operators start or inspect executions by hand (gcloud)",
    "operator-token-creator-0": _OPERATOR,
    "invoker-operator": _OPERATOR,
    "workflows-invoker-operator-1": _OPERATOR,
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
