"""The contract of a `cloud_run_job`: its Cloud Run Job's name, and the environment variables
its container receives.

The name (`get_cloud_run_job_name`) is shared by infra, which creates the job, and the
job-runner, which executes it. The variables come in two parts, one definition, so GCP and
local runs cannot drift apart:

- per job and environment (`get_job_env`): set on the Cloud Run Job by infra, and sent again
  with every execution (override env vars are merged into the job's,
  https://cloud.google.com/run/docs/execute/jobs#override-job-configuration);
- per partition and attempt (`get_partition_env`): sent as overrides of each execution (locally:
  the subprocess's environment).

| variable | value |
|---|---|
| DAYFLOW_ENV | `local`, `dev` or `prod` |
| DAYFLOW_GCP_PROJECT | the environment's project |
| DAYFLOW_DATASET_PREFIX | prefix of the environment's dataset ids (`dev_`) |
| DAYFLOW_BIGQUERY_LOCATION | the environment's region |
| DAYFLOW_PIPELINE, DAYFLOW_JOB | the spec's names |
| DAYFLOW_DESTINATION_TABLE | `project.dataset.table` of `destination` (absent without one) |
| DAYFLOW_PARTITION_KEY | `2024-01-03` or `2024-03-10T04` |
| DAYFLOW_PARTITION_DATE | the partition's local date, `YYYY-MM-DD` |
| DAYFLOW_PARTITION_START, _END | its half-open UTC bounds, `2024-01-02T23:00:00Z` |
| DAYFLOW_ATTEMPT | the run's attempt, from 1 |
| DAYFLOW_RUN_ID | `pipeline/job/partition_key/attempt` |
| DAYFLOW_BIGQUERY_ENDPOINT | locally only: the BigQuery emulator's URL (no credentials needed) |

Your own `env` from the spec comes first; dayflow's names cannot be set there (the spec refuses
`DAYFLOW_*`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime

from dayflow.spec import CloudRunJob, Environment

# Cloud Run Job ids follow the service id rules: a letter, then letters, digits and '-', not
# ending with '-', under 50 characters (as dayflow.infra.naming.MAX_SERVICE_NAME).
MAX_JOB_NAME = 49


def get_cloud_run_job_name(pipeline: str, job_name: str) -> str:
    """`dayflow-<pipeline>-<job>` in kebab case; a longer name keeps a readable prefix and ends
    with 6 hex digits of its SHA-256 (so two long names never collapse into one)."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"dayflow-{pipeline}-{job_name}".lower()).strip("-")
    if len(name) > MAX_JOB_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:6]
        name = f"{name[: MAX_JOB_NAME - 7].rstrip('-')}-{digest}"
    return name


def get_job_env(
    job: CloudRunJob, *, env_name: str, environment: Environment, pipeline: str, job_name: str
) -> dict[str, str]:
    """The variables that do not depend on the partition: the job's `env`, then dayflow's."""
    values = {
        **job.env,
        "DAYFLOW_ENV": env_name,
        "DAYFLOW_GCP_PROJECT": environment.gcp_project,
        "DAYFLOW_DATASET_PREFIX": environment.dataset_prefix,
        "DAYFLOW_BIGQUERY_LOCATION": environment.region,
        "DAYFLOW_PIPELINE": pipeline,
        "DAYFLOW_JOB": job_name,
    }
    if job.destination is not None:
        dataset = environment.get_dataset_id(job.destination.dataset)
        values["DAYFLOW_DESTINATION_TABLE"] = (
            f"{environment.gcp_project}.{dataset}.{job.destination.table}"
        )
    return values


def get_partition_env(
    *,
    partition_key: str,
    partition_date: date,
    start: datetime,
    end: datetime,
    attempt: int,
    run_id: str,
) -> dict[str, str]:
    """The variables of one partition and attempt."""
    return {
        "DAYFLOW_PARTITION_KEY": partition_key,
        "DAYFLOW_PARTITION_DATE": partition_date.isoformat(),
        "DAYFLOW_PARTITION_START": _rfc3339(start),
        "DAYFLOW_PARTITION_END": _rfc3339(end),
        "DAYFLOW_ATTEMPT": str(attempt),
        "DAYFLOW_RUN_ID": run_id,
    }


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
