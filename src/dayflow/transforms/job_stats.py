"""Rows written and time taken by the BigQuery jobs that dbt or Dataform ran, from the jobs API.

Both tools report rows unevenly: dbt-bigquery gives none for scripts and counts a MERGE's deleted
rows as "affected"; the Dataform CLI gives no rows and no timings at all. Reading the jobs
themselves gives one meaning for both tools and both environments: rows inserted or updated by
DML, plus the rows of a table created by CREATE TABLE AS SELECT. It is best effort: what cannot
be read is None and never fails a run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import bigquery

_log = logging.getLogger(__name__)

_DML_WRITES = ("INSERT", "MERGE", "UPDATE")
_CREATES = ("CREATE_TABLE_AS_SELECT", "CREATE_TABLE")
# Seconds per jobs API call, and for its retries; these are cheap metadata reads.
_CALL_TIMEOUT = 10.0
_RETRY_DEADLINE = 20.0


@dataclass(frozen=True, slots=True)
class JobStats:
    """Rows written and seconds run by a set of jobs; None where unknown."""

    rows: int | None
    seconds: float | None


def get_stats_user_agent(tool: str) -> str:
    """The User-Agent of the client reading `tool`'s jobs: the calls are `tool`'s, made for it."""
    return f"dayflow-job-stats/{tool}"


def open_stats_client(
    project: str,
    bigquery_endpoint: str | None,
    location: str | None,
    service_account: str | None = None,
    *,
    tool: str,
) -> bigquery.Client:
    """A client reading the jobs a transform ran: in their location, as the account that ran them.

    Regional jobs answer `jobs.get` only with their location, else 404 ("If the job's location
    is in a single region ... you must specify the location",
    https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/get). Reading as the account
    that created the jobs needs only the `bigquery.jobs.create` it already holds (same page);
    as anyone else it would need `bigquery.jobs.get` on the project. Locally (`bigquery_endpoint`
    set) nobody is impersonated; the User-Agent names `tool` (`dbt`, `dataform`) everywhere, so
    the calls can be told apart as that tool's (the IAM contract test checks them as its).
    """
    from dayflow.warehouse import make_bigquery_client

    user_agent = get_stats_user_agent(tool)
    if bigquery_endpoint is not None or service_account is None:
        return make_bigquery_client(project, bigquery_endpoint, location, user_agent)
    from google.api_core.client_info import ClientInfo
    from google.cloud import bigquery

    from dayflow.impersonation import get_impersonated_credentials

    return bigquery.Client(
        project=project,
        location=location,
        credentials=get_impersonated_credentials(service_account),
        client_info=ClientInfo(user_agent=user_agent),  # type: ignore[no-untyped-call]
    )


def read_job_stats(client: bigquery.Client, job_ids: Iterable[str]) -> JobStats:
    """Sum the rows written (scripts through their child jobs) and run time of `job_ids`."""
    from google.cloud.bigquery import DEFAULT_RETRY

    retry = DEFAULT_RETRY.with_deadline(_RETRY_DEADLINE)
    rows: list[int] = []
    seconds: list[float] = []
    for job_id in job_ids:
        try:
            job = client.get_job(job_id, retry=retry, timeout=_CALL_TIMEOUT)
            count = _rows_of(client, job, retry, depth=0)
        except Exception as err:  # best effort: statistics never decide a run's outcome
            _log.warning("could not read statistics of BigQuery job %s: %s", job_id, err)
            return JobStats(None, None)
        if count is not None:
            rows.append(count)
        if job.started is not None and job.ended is not None:
            seconds.append((job.ended - job.started).total_seconds())
    return JobStats(
        rows=sum(rows) if rows else None,
        seconds=round(sum(seconds), 3) if seconds else None,
    )


def _rows_of(client: bigquery.Client, job: Any, retry: Any, depth: int) -> int | None:
    statement = getattr(job, "statement_type", None)
    if statement == "SCRIPT" and depth == 0:
        children = client.list_jobs(parent_job=job.job_id, retry=retry, timeout=_CALL_TIMEOUT)
        counts = [_rows_of(client, child, retry, depth + 1) for child in children]
        known = [c for c in counts if c is not None]
        return sum(known) if known else None
    if statement in _DML_WRITES:
        stats = job.dml_stats
        if stats is not None:
            return int(stats.inserted_row_count or 0) + int(stats.updated_row_count or 0)
        return int(job.num_dml_affected_rows) if job.num_dml_affected_rows is not None else None
    if statement in _CREATES:
        table = job.ddl_target_table or job.destination
        if table is None:
            return None
        num_rows = client.get_table(table, retry=retry, timeout=_CALL_TIMEOUT).num_rows
        return int(num_rows) if num_rows is not None else None
    return None
