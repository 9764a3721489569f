"""The `cloud_run_job` kind: your container, run once per partition, then its rows counted.

`execute_cloud_run_job` builds one `JobExecution` (the container's command, its variables from
`dayflow.cloud_run_jobs`, the spec's timeout) and hands it to a `JobExecutor`:

- `CloudRunExecutor` (dev, prod) executes the Cloud Run Job that infra created, with the
  partition in env overrides, and waits on the returned operation for the `Execution`;
- `LocalProcessExecutor` (local) runs the container's `command` + `args` as a subprocess in the
  spec's directory (the image's working directory) with the same variables, plus the BigQuery
  emulator's endpoint.

Failures: a failed execution (tasks failed after the job's own `max_retries`) or a non-zero exit
code is permanent: the same code on the same data fails again. Timeouts and an unreachable or
overloaded API are transient; on a timeout the execution is cancelled first, so that a retry
never overlaps it.

Rows written: after success, the runner counts the rows of the destination's partition (a
COUNT(*) with the partition's filter, no bytes billed beyond metadata for a partitioned
table). That is the robust source: it needs nothing from the job's code or logs, holds for any
language and any number of task retries, and is the very number `checksum` reports. A job
without `destination` reports 0 rows.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dayflow.cloud_run_jobs import get_cloud_run_job_name, get_job_env, get_partition_env
from dayflow.errors import WarehouseError
from dayflow.ledger import get_run_id
from dayflow.spec import CloudRunJob, Destination, Environment
from dayflow.warehouse import TableRef, classify_error

if TYPE_CHECKING:
    from google.cloud import bigquery

    from job_runner.clients.cloud_run import CloudRunJobsApi
    from job_runner.domain.runner import JobRunner, Partition
    from job_runner.domain.writes import WriteStats

_log = logging.getLogger(__name__)

# The failure message keeps the last lines of the job's output, within this many characters.
OUTPUT_TAIL_LINES = 20
OUTPUT_TAIL_CHARS = 2000
# Variables of the job-runner's own environment that a local job also gets: what a process
# needs to start (the image gives a container these). Nothing else leaks into the job.
_INHERITED = ("HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT")


@dataclass(frozen=True)
class JobExecution:
    """One execution of a `cloud_run_job` for one partition and attempt."""

    job: str  # the Cloud Run Job's name (`dayflow-<pipeline>-<job>`)
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: dict[str, str]
    timeout_seconds: int
    cwd: Path


@dataclass(frozen=True)
class ExecutionResult:
    """A succeeded execution: what ran, for the ledger's `details`."""

    details: dict[str, Any] = field(default_factory=dict)


class JobExecutor(Protocol):
    """Runs a `JobExecution` to its end: returns on success, raises `WarehouseError` otherwise."""

    def execute(self, execution: JobExecution) -> ExecutionResult: ...

    def close(self) -> None:
        """Release the executor's connections (the runner is closing)."""


class LocalProcessExecutor:
    """Runs the container's command as a subprocess: the local stand-in for Cloud Run Jobs.

    The job's interpreter is found as in the image, whose venv is first on PATH: here the
    job-runner's own venv (`sys.executable`'s directory) is put first.
    """

    def __init__(self, bigquery_endpoint: str | None) -> None:
        self.bigquery_endpoint = bigquery_endpoint

    def close(self) -> None:
        pass  # nothing held between runs

    def execute(self, execution: JobExecution) -> ExecutionResult:
        env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.defpath])
        env["PYTHONUNBUFFERED"] = "1"  # as the image sets it: output in the order written
        env |= execution.env
        if self.bigquery_endpoint is not None:
            env["DAYFLOW_BIGQUERY_ENDPOINT"] = self.bigquery_endpoint
        argv = [*execution.command, *execution.args]
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=execution.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,  # its children are killed with it on a timeout
            )
        except OSError as err:
            raise WarehouseError(
                f"cloud_run_job {execution.job}: cannot start {argv[0]!r} in {execution.cwd} "
                f"({err.strerror}; expected the container's command to exist there)",
                transient=False,
            ) from None
        with proc:
            try:
                output, _ = proc.communicate(timeout=execution.timeout_seconds)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise WarehouseError(
                    f"cloud_run_job {execution.job} did not finish within "
                    f"{execution.timeout_seconds} s (timeout_seconds); it was killed",
                    transient=True,
                ) from None
        seconds = round(time.monotonic() - started, 3)
        if proc.returncode != 0:
            raise WarehouseError(
                f"cloud_run_job {execution.job} exited with code {proc.returncode}: "
                f"{get_output_tail(output)}",
                transient=False,
                details=[{"exit_code": proc.returncode, "seconds": seconds}],
            )
        return ExecutionResult({"exit_code": 0, "seconds": seconds})


class CloudRunExecutor:
    """Executes a Cloud Run Job of the project through the Cloud Run Admin API and waits for it."""

    def __init__(
        self, api: CloudRunJobsApi, project: str, region: str, poll_initial_seconds: float = 1.0
    ) -> None:
        self.api = api
        self.project = project
        self.region = region
        # The first wait between polls of the operation (then x1.5 up to 20 s, as api-core's).
        self.poll_initial_seconds = poll_initial_seconds

    def close(self) -> None:
        self.api.close()

    def execute(self, execution: JobExecution) -> ExecutionResult:
        from google.api_core import exceptions as gexc
        from google.api_core import retry
        from google.api_core.future import polling

        name = f"projects/{self.project}/locations/{self.region}/jobs/{execution.job}"
        label = f"Cloud Run Job {execution.job}"
        try:
            operation = self.api.run_job(name, execution.env, execution.timeout_seconds)
        except gexc.GoogleAPICallError as err:
            raise _api_error(f"{label} could not be executed", err) from err
        poll = retry.Retry(
            predicate=polling.POLLING_PREDICATE,
            initial=self.poll_initial_seconds,
            maximum=20.0,
            multiplier=1.5,
        )
        try:
            result = operation.result(  # type: ignore[no-untyped-call]
                timeout=execution.timeout_seconds, polling=poll
            )
        except concurrent.futures.TimeoutError:
            self._cancel(operation)
            raise WarehouseError(
                f"{label} did not finish within {execution.timeout_seconds} s "
                "(timeout_seconds); its execution was cancelled",
                transient=True,
            ) from None
        except gexc.GoogleAPICallError as err:
            if not operation.operation.done:  # polling failed: the execution may still run
                self._cancel(operation)
                raise _api_error(f"{label}: waiting for its execution failed", err) from err
            counts = _get_counts(operation.metadata)
            raise WarehouseError(
                f"{label} failed: {_describe(counts)} ({err.message})",
                transient=False,
                details=[counts],
            ) from None
        counts = _get_counts(result)
        if counts["failed"] or counts["succeeded"] < counts["tasks"]:
            raise WarehouseError(f"{label} failed: {_describe(counts)}", transient=False,
                                 details=[counts])  # fmt: skip
        return ExecutionResult(counts)

    def _cancel(self, operation: Any) -> None:
        """Best effort: a failed cancel is logged, the run is reported as transient anyway."""
        execution = getattr(operation.metadata, "name", "")
        if not execution:
            return
        try:
            self.api.cancel_execution(execution)
        except Exception:
            _log.warning("could not cancel Cloud Run execution %s", execution, exc_info=True)


def _get_counts(execution: Any) -> dict[str, Any]:
    """An `Execution`'s name and task counts (a `run_v2.Execution`, or None before it exists)."""
    return {
        "execution": getattr(execution, "name", ""),
        "tasks": int(getattr(execution, "task_count", 0)),
        "succeeded": int(getattr(execution, "succeeded_count", 0)),
        "failed": int(getattr(execution, "failed_count", 0)),
        "cancelled": int(getattr(execution, "cancelled_count", 0)),
        "log_uri": getattr(execution, "log_uri", ""),
    }


def _describe(counts: dict[str, Any]) -> str:
    text = (
        f"{counts['failed']} of {counts['tasks']} tasks failed after the job's own retries, "
        f"{counts['succeeded']} succeeded, {counts['cancelled']} cancelled"
    )
    return f"{text}; logs: {counts['log_uri']}" if counts["log_uri"] else text


def _api_error(message: str, err: Exception) -> WarehouseError:
    """Unavailable, overloaded or timed out (5xx, 429, deadline): transient; a missing job,
    missing permission or a refused request (other 4xx): permanent."""
    from google.api_core import exceptions as gexc

    transient = isinstance(
        err, gexc.ServerError | gexc.TooManyRequests | gexc.DeadlineExceeded | gexc.RetryError
    )
    detail = getattr(err, "message", None) or str(err)
    # The REST transport starts its messages with the request line: the method and URL.
    detail = re.sub(r"^(GET|POST) \S+: ", "", detail)
    return WarehouseError(f"{message}: {detail}", transient=transient)


def get_output_tail(output: str) -> str:
    """The last lines of a job's output, one line of text, for an error message."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    tail = " | ".join(lines[-OUTPUT_TAIL_LINES:])
    if len(tail) > OUTPUT_TAIL_CHARS:
        tail = "..." + tail[-OUTPUT_TAIL_CHARS:]
    return tail or "(no output)"


def build_execution(
    job: CloudRunJob,
    *,
    env_name: str,
    environment: Environment,
    pipeline: str,
    job_name: str,
    partition: Partition,
    attempt: int,
    spec_root: Path,
) -> JobExecution:
    """The execution of `job` for one partition and attempt."""
    start, end = partition.scheme.get_partition_bounds(partition.key)
    env = get_job_env(
        job, env_name=env_name, environment=environment, pipeline=pipeline, job_name=job_name
    ) | get_partition_env(
        partition_key=partition.key,
        partition_date=partition.scheme.get_partition_date(partition.key),
        start=start,
        end=end,
        attempt=attempt,
        run_id=get_run_id(pipeline, job_name, partition.key, attempt),
    )
    return JobExecution(
        job=get_cloud_run_job_name(pipeline, job_name),
        command=tuple(job.command),
        args=tuple(job.args),
        env=env,
        timeout_seconds=job.timeout_seconds,
        cwd=spec_root,
    )


def count_partition_rows(
    client: bigquery.Client, table: TableRef, destination: Destination, partition: Partition
) -> int:
    """Rows of `table` in `partition` (0 if the job has not created the table)."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    field_sql = f"`{destination.partition_field}`"  # an Identifier: validated by the spec
    where = (
        f"{field_sql} = @partition_date"
        if destination.partition_type == "DATE"
        else f"{field_sql} >= @partition_start AND {field_sql} < @partition_end"
    )
    config = bigquery.QueryJobConfig(query_parameters=partition.get_query_parameters())
    try:
        rows = client.query_and_wait(
            f"SELECT COUNT(*) AS n FROM {table.sql} WHERE {where}", job_config=config
        )
        return int(next(iter(rows))["n"])
    except NotFound:
        return 0
    except Exception as err:
        raise classify_error(err) from err


_LOCKS_LOCK = threading.Lock()
_PARTITION_LOCKS: dict[tuple[str, str], threading.Lock] = {}


def _get_partition_lock(job: str, partition_key: str) -> threading.Lock:
    with _LOCKS_LOCK:
        return _PARTITION_LOCKS.setdefault((job, partition_key), threading.Lock())


def get_executor(runner: JobRunner) -> JobExecutor:
    """The runner's executor: given to it, else a subprocess locally, Cloud Run in GCP."""
    with runner.executor_lock:
        if runner.job_executor is None:
            if runner.env == "local":
                runner.job_executor = LocalProcessExecutor(runner.bigquery_endpoint)
            else:
                from job_runner.clients.cloud_run import CloudRunJobsApi

                runner.job_executor = CloudRunExecutor(
                    CloudRunJobsApi.create(), runner.project, runner.environment.region
                )
        return runner.job_executor


def run_cloud_run_job(
    runner: JobRunner,
    pipeline_name: str,
    job_name: str,
    job: CloudRunJob,
    partition: Partition,
    attempt: int,
) -> WriteStats:
    """Execute `job` for one partition and attempt; count its destination partition's rows."""
    from job_runner.domain.writes import WriteStats

    execution = build_execution(
        job,
        env_name=runner.env,
        environment=runner.environment,
        pipeline=pipeline_name,
        job_name=job_name,
        partition=partition,
        attempt=attempt,
        spec_root=runner.spec.root,
    )
    # Executions of one job and partition take turns in this process. Locally all executions
    # of one job do, whatever their partition: the emulator does not isolate concurrent
    # transactions even on different partitions of a table (a backfill's partitions run side by
    # side), and there is one process. In GCP BigQuery aborts one of two conflicting
    # transactions and the job's own task retries redo it.
    turn = partition.key if runner.env != "local" else "all partitions"
    with _get_partition_lock(execution.job, turn):
        result = get_executor(runner).execute(execution)
        rows = 0
        if job.destination is not None:
            dataset = runner.environment.get_dataset_id(job.destination.dataset)
            table = TableRef(runner.project, dataset, job.destination.table)
            rows = count_partition_rows(runner.client, table, job.destination, partition)
    return WriteStats(
        rows_written=rows, bytes_processed=0, bigquery_job_id=None, details=[result.details]
    )
