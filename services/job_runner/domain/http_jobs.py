"""Runs an `http` job: POST the partition to one of the domain's services, read rows written.

The request body (JSON), the contract every called service gets:

- `pipeline`, `job`: which job of which pipeline (`shop_daily`, `extract_fx_rates`);
- `partition_key`: the partition to (re)build (`2024-01-05`, or `2024-01-05T13` when hourly);
- `partition_start`, `partition_end`: its half-open UTC bounds (ISO 8601, `...T23:00:00Z`);
- `attempt`, `run_id`: this attempt (1, 2, ...) and its id (`dayflow.ledger.get_run_id`); a new
  attempt is a rerun of the partition, never a continuation;
- `environment`, `gcp_project`, `dataset_prefix`: where to write (`dev`, `acme-shop-dev`, `dev_`);
- `destination`: the job's declared table `{project, dataset, table, partition_field}`, or null.

The answer must be a JSON object with `rows_written`, an integer >= 0 (other fields are kept in the
ledger's details). 5xx, 429, timeouts and failed connections are transient (the caller may retry
with a new attempt); any other status, and a 2xx without that result, is permanent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dayflow.errors import WarehouseError
from dayflow.ledger import get_run_id
from dayflow.partitions import PartitionScheme
from dayflow.spec import HttpJob
from dayflow.warehouse import TableRef
from job_runner.clients.services import (
    HttpxServiceCaller,
    ServiceCaller,
    ServiceCallError,
    ServiceResponse,
)
from job_runner.domain.writes import WriteStats

if TYPE_CHECKING:
    from job_runner.domain.runner import JobRunner, Partition

# How much of a service's answer an error message quotes (the rest is in the service's log).
_QUOTE_CHARS = 300


@dataclass(frozen=True)
class HttpCall:
    """One call of an http job: where it goes and what it carries."""

    service: str
    path: str
    url: str
    # The service's URL, the ID token's audience in GCP; None locally (no token).
    audience: str | None
    body: dict[str, Any]
    timeout_seconds: float

    @property
    def what(self) -> str:
        # Its path, not its URL: addresses never reach a caller (job_runner.errors).
        return f"service {self.service!r} (POST {self.path})"


def run_http_job(
    runner: JobRunner,
    pipeline: str,
    job_name: str,
    job: HttpJob,
    partition: Partition,
    attempt: int,
    deadline: float,
) -> WriteStats:
    """One attempt of an http job for `partition`, within `deadline` (on `runner.clock`)."""
    url = get_service_url(job_name, job, runner.service_urls)
    environment = runner.environment
    body = build_body(
        pipeline=pipeline,
        job_name=job_name,
        partition_key=partition.key,
        scheme=partition.scheme,
        attempt=attempt,
        run_id=get_run_id(pipeline, job_name, partition.key, attempt),
        environment=runner.env,
        gcp_project=runner.project,
        dataset_prefix=environment.dataset_prefix,
        destination=runner.get_destination(job) if job.destination else None,
        partition_field=job.destination.partition_field if job.destination else None,
    )
    # In GCP the ID token's audience is the service's URL (never with the path); locally none.
    audience = None if runner.env == "local" else runner.service_urls[job.service]
    timeout = max(0.001, min(float(job.timeout_seconds), deadline - runner.clock()))
    call = HttpCall(job.service, job.path, url, audience, body, timeout)
    return call_service(runner.service_caller or HttpxServiceCaller(), call)


def build_body(
    *,
    pipeline: str,
    job_name: str,
    partition_key: str,
    scheme: PartitionScheme,
    attempt: int,
    run_id: str,
    environment: str,
    gcp_project: str,
    dataset_prefix: str,
    destination: TableRef | None,
    partition_field: str | None,
) -> dict[str, Any]:
    """The JSON body an http job POSTs (listed in this module's docstring)."""
    start, end = scheme.get_partition_bounds(partition_key)
    return {
        "pipeline": pipeline,
        "job": job_name,
        "partition_key": partition_key,
        "partition_start": _iso_utc(start),
        "partition_end": _iso_utc(end),
        "attempt": attempt,
        "run_id": run_id,
        "environment": environment,
        "gcp_project": gcp_project,
        "dataset_prefix": dataset_prefix,
        "destination": None
        if destination is None
        else {
            "project": destination.project,
            "dataset": destination.dataset,
            "table": destination.table,
            "partition_field": partition_field,
        },
    }


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def get_service_url(job_name: str, job: HttpJob, service_urls: dict[str, str]) -> str:
    """The base URL of the job's service in this environment, joined with the job's path."""
    base = service_urls.get(job.service)
    if not base:
        raise WarehouseError(
            f"job {job_name!r} calls service {job.service!r}, whose URL this job-runner was not "
            f"given (expected it in JOB_RUNNER_SERVICE_URLS, which infra sets in GCP and "
            f"`dayflow local up` locally; known: {', '.join(sorted(service_urls)) or 'none'})",
            transient=False,
        )
    return base.rstrip("/") + job.path


def call_service(caller: ServiceCaller, call: HttpCall) -> WriteStats:
    """Make the call; return its rows written, or raise WarehouseError (transient or not)."""
    try:
        response = caller.post(
            call.url, call.body, timeout_seconds=call.timeout_seconds, audience=call.audience
        )
    except ServiceCallError as err:
        raise WarehouseError(f"{call.what} failed: {err}", transient=err.transient) from err
    return read_result(call, response)


def read_result(call: HttpCall, response: ServiceResponse) -> WriteStats:
    """Map the service's answer to the run's outcome."""
    status = response.status_code
    if not 200 <= status < 300:
        transient = status >= 500 or status == 429
        hint = (
            " (the job-runner's account needs roles/run.invoker on the service: infra grants it)"
            if status in (401, 403)
            else ""
        )
        raise WarehouseError(
            f"{call.what} answered {status}: {_quote(response.text)}{hint}", transient=transient
        )
    try:
        result = json.loads(response.text)
    except ValueError:
        result = None
    rows = result.get("rows_written") if isinstance(result, dict) else None
    if not isinstance(result, dict) or type(rows) is not int or rows < 0:
        raise WarehouseError(
            f"{call.what} answered {status} with {_quote(response.text)} "
            '(expected a JSON object such as {"rows_written": 42}: an integer >= 0)',
            transient=False,
        )
    extra = {k: v for k, v in result.items() if k != "rows_written"}
    return WriteStats(
        rows_written=rows,
        bytes_processed=0,
        bigquery_job_id=None,
        details=[{"service": call.service, **extra}] if extra else None,
    )


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return "an empty body"
    return repr(text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS] + "...")
