"""The dbt profile of one run, generated at run time: OAuth in GCP, the emulator locally.

In GCP the target is the dayflow environment's name (dev, prod) unless the job names one, and
dbt acts as its own service account when one is configured: dbt-bigquery's
`impersonate_service_account` mints that account's tokens from the job-runner's credentials
(https://docs.getdbt.com/docs/core/connect-data-platform/bigquery-setup#service-account-impersonation).
Locally the target is always `local` and nobody is impersonated.

Every BigQuery call dbt makes is bounded: `job_execution_timeout_seconds` caps each query job,
`job_creation_timeout_seconds` caps submitting one, and `job_retry_deadline_seconds` caps the
retries of one. Locally `job_retries` is 0, so a dead emulator fails in seconds instead of
retrying for minutes.
"""

from __future__ import annotations

from typing import Any

PROFILE_NAME = "dayflow"
LOCAL_TARGET = "local"
DEFAULT_GCP_TARGET = "prod"
# dbt-bigquery sends this as the OAuth token; the local emulator ignores authentication.
_LOCAL_TOKEN = "local-emulator-needs-no-token"  # noqa: S105 (not a secret)


def build_profile(
    *,
    project: str,
    dataset: str,
    location: str | None,
    bigquery_endpoint: str | None,
    timeout: float,
    target: str | None = None,
    impersonate_service_account: str | None = None,
    threads: int = 4,
) -> tuple[str, dict[str, Any]]:
    """Return the target name and the contents of `profiles.yml` for one run.

    Args:
        target: the target name in GCP (the job's `target`, else the environment's name);
            ignored locally.
        impersonate_service_account: the account dbt acts as in GCP; ignored locally.
    """
    seconds = max(1, int(timeout))
    output: dict[str, Any] = {
        "type": "bigquery",
        "project": project,
        "dataset": dataset,
        "job_execution_timeout_seconds": seconds,
        "job_creation_timeout_seconds": min(seconds, 60),
        "job_retry_deadline_seconds": seconds,
        "priority": "interactive",
    }
    if location:
        output["location"] = location
    if bigquery_endpoint is None:
        name = target or DEFAULT_GCP_TARGET
        output |= {"method": "oauth", "threads": threads, "job_retries": 1}
        if impersonate_service_account:
            output["impersonate_service_account"] = impersonate_service_account
    else:
        # Local runs always use the target `local`: the project's local-only macro overrides key
        # on it (transform/dbt/macros/local_bigquery.sql), whatever the spec's `target` says.
        name = LOCAL_TARGET
        output |= {
            "method": "oauth-secrets",
            "token": _LOCAL_TOKEN,
            "api_endpoint": bigquery_endpoint,
            # The emulator runs one statement at a time anyway; one thread keeps logs in order.
            "threads": 1,
            "job_retries": 0,
            "job_creation_timeout_seconds": min(seconds, 30),
            "job_retry_deadline_seconds": min(seconds, 30),
        }
    return name, {PROFILE_NAME: {"target": name, "outputs": {name: output}}}
