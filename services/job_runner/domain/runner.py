"""Runs one job of one pipeline for one partition, and records it in the run ledger.

No FastAPI here: the HTTP layer (`api/`) maps the errors raised below to status codes.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from dayflow.errors import NotFoundError, UserError, WarehouseError
from dayflow.ledger import RunLedger, RunRecord, get_run_id
from dayflow.partitions import PartitionScheme
from dayflow.spec import (
    BigQuerySqlJob,
    CloudRunJob,
    DataformJob,
    DbtJob,
    DedupJob,
    HttpJob,
    Job,
    Pipeline,
    ReplacePartition,
    Spec,
)
from dayflow.warehouse import TableRef, classify_error, validate_identifier
from job_runner.domain.faults import Faults
from job_runner.domain.lifecycle import RunLifecycle, RunOutcome, RunRequest, RunTicket
from job_runner.domain.upstream import UpstreamGate
from job_runner.domain.writes import PartitionWriter, WriteStats

if TYPE_CHECKING:
    from google.cloud import bigquery

    from job_runner.clients.services import ServiceCaller
    from job_runner.domain.cloud_run_jobs import JobExecutor


_log = logging.getLogger(__name__)

# SQL names datasets that dayflow manages by their logical name; environments prefix them.
_DATASET_PLACEHOLDER = re.compile(r"\{\{\s*dataset:([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Partition:
    """A partition's key and the values bound to every query as parameters."""

    key: str
    scheme: PartitionScheme

    def get_query_parameters(self) -> list[bigquery.ScalarQueryParameter]:
        from google.cloud import bigquery

        start, end = self.scheme.get_partition_bounds(self.key)
        return [
            bigquery.ScalarQueryParameter("partition_key", "STRING", self.key),
            bigquery.ScalarQueryParameter(
                "partition_date", "DATE", self.scheme.get_partition_date(self.key)
            ),
            bigquery.ScalarQueryParameter("partition_start", "TIMESTAMP", start),
            bigquery.ScalarQueryParameter("partition_end", "TIMESTAMP", end),
        ]


def get_job_id_base(
    pipeline: str, job: str, partition_key: str, attempt: int, namespace: str = ""
) -> str:
    """Deterministic BigQuery job id prefix of a run: the same run never runs twice.

    `namespace` (the environment's project and dataset prefix) keeps environments that share a
    GCP project from reusing each other's jobs.
    """
    key = partition_key.replace("-", "").replace("T", "h")
    space = hashlib.sha256(namespace.encode()).hexdigest()[:8]
    return f"dayflow_{pipeline}_{job}_{key}_a{attempt}_{space}"


class InFlight:
    """Counts runs and distinct partitions in progress in this process, with their maximums."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs = 0
        self.max_runs = 0
        self._partitions: dict[tuple[str, str], int] = {}
        self.max_partitions = 0

    @contextmanager
    def track(self, pipeline: str, partition_key: str) -> Iterator[None]:
        key = (pipeline, partition_key)
        with self._lock:
            self.runs += 1
            self.max_runs = max(self.max_runs, self.runs)
            self._partitions[key] = self._partitions.get(key, 0) + 1
            self.max_partitions = max(self.max_partitions, len(self._partitions))
        try:
            yield
        finally:
            with self._lock:
                self.runs -= 1
                self._partitions[key] -= 1
                if not self._partitions[key]:
                    del self._partitions[key]

    def get_stats(self, reset: bool = False) -> dict[str, int]:
        with self._lock:
            stats = {
                "runs_in_flight": self.runs,
                "max_runs_in_flight": self.max_runs,
                "partitions_in_flight": len(self._partitions),
                "max_partitions_in_flight": self.max_partitions,
            }
            if reset:
                self.max_runs, self.max_partitions = self.runs, len(self._partitions)
            return stats


@dataclass(frozen=True)
class TransformAccounts:
    """The service accounts dbt and Dataform jobs act as in GCP (None: the job-runner's own)."""

    dbt: str | None = None
    dataform: str | None = None


class JobRunner:
    """Executes runs against one environment's warehouse."""

    def __init__(
        self,
        spec: Spec,
        env: str,
        client: bigquery.Client,
        ledger: RunLedger,
        clock: Callable[[], float] = time.monotonic,
        faults: Faults | None = None,
        bigquery_endpoint: str | None = None,
        location: str | None = None,
        transform_accounts: TransformAccounts | None = None,
        max_concurrent_runs: int = 10,
        run_hold_seconds: float = 20.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        service_urls: dict[str, str] | None = None,
        service_caller: ServiceCaller | None = None,
        job_executor: JobExecutor | None = None,
    ) -> None:
        self.spec = spec
        self.env = env
        self.environment = spec.get_environment(env)
        self.project = self.environment.gcp_project
        self.client = client
        self.ledger = ledger
        self.writer = PartitionWriter(client, clock=clock)
        self.in_flight = InFlight()
        self.clock = clock
        self.now = now
        self.faults = faults
        # dbt and Dataform open their own BigQuery connections: locally, to the emulator; in
        # GCP in the environment's location, as their own accounts.
        self.bigquery_endpoint = bigquery_endpoint
        self.location = location or self.environment.region
        self.transform_accounts = transform_accounts or TransformAccounts()
        self.lifecycle = RunLifecycle(self, max_concurrent_runs, run_hold_seconds)
        self.upstream = UpstreamGate(self)
        # http jobs: each service's URL here, and what calls it (job_runner.domain.http_jobs).
        self.service_urls = service_urls or {}
        self.service_caller = service_caller
        # Runs `cloud_run_job` jobs (job_runner.domain.cloud_run_jobs): built on first use.
        self.job_executor = job_executor
        self.executor_lock = threading.Lock()

    def close(self) -> None:
        """Stop accepting runs; runs in flight are abandoned (their leases expire)."""
        self.lifecycle.close()
        self.client.close()  # type: ignore[no-untyped-call]
        if self.job_executor is not None:
            self.job_executor.close()

    def get_pipeline(self, pipeline_name: str) -> Pipeline:
        try:
            return self.spec.get_pipeline(pipeline_name)
        except UserError as err:
            raise NotFoundError(str(err)) from None

    def get_job(self, pipeline_name: str, job_name: str) -> tuple[Pipeline, Job]:
        pipeline = self.get_pipeline(pipeline_name)
        if job_name not in pipeline.jobs:
            raise NotFoundError(
                f"unknown job {job_name!r} in pipeline {pipeline_name!r} "
                f"(expected one of: {', '.join(pipeline.jobs)})"
            )
        return pipeline, pipeline.jobs[job_name]

    def start(self, request: RunRequest) -> RunTicket:
        """Start a run in the background, or attach to the attempt it repeats (see
        `job_runner.domain.lifecycle`). Validates everything before anything is written."""
        return self.lifecycle.start(request)

    def run(self, request: RunRequest) -> RunOutcome:
        """Start (or attach to) a run and wait for its outcome."""
        return self.lifecycle.wait(self.start(request))

    def get_partition_date(self, pipeline: Pipeline, partition_key: str) -> date:
        try:
            return pipeline.scheme.get_partition_date(partition_key)
        except ValueError as err:
            raise UserError(str(err)) from None

    def execute(self, request: RunRequest, attempt: int, deadline: float) -> RunOutcome:
        """Execute one attempt in this thread and record its final state (the caller recorded
        it as running). `deadline` (on `clock`) bounds retries of aborted transactions."""
        pipeline, job = self.get_job(request.pipeline, request.job)
        day = self.get_partition_date(pipeline, request.partition_key)

        def record(status: str, **fields: object) -> None:
            self.ledger.record(
                RunRecord(
                    pipeline=request.pipeline,
                    job=request.job,
                    partition_key=request.partition_key,
                    partition_date=day,
                    attempt=attempt,
                    status=status,  # type: ignore[arg-type]
                    backfill_id=request.backfill_id,
                    request_key=request.request_key,
                    recorded_at=self.now(),
                    **fields,  # type: ignore[arg-type]
                )
            )

        with self.in_flight.track(request.pipeline, request.partition_key):
            started = self.clock()
            try:
                if self.faults is not None:
                    self.faults.check(request.partition_key)
                stats = self._execute(
                    request.job,
                    job,
                    Partition(request.partition_key, pipeline.scheme),
                    get_job_id_base(
                        request.pipeline,
                        request.job,
                        request.partition_key,
                        attempt,
                        f"{self.project}/{self.environment.dataset_prefix}",
                    ),
                    deadline,
                    pipeline_name=request.pipeline,
                    attempt=attempt,
                )
            except WarehouseError as err:
                record(
                    "failed",
                    error=str(err),
                    error_kind="transient" if err.transient else "permanent",
                    duration_seconds=self.clock() - started,
                    bigquery_job_id=err.job_id,
                    details=err.details,
                )
                raise
            except UserError as err:
                record("failed", error=str(err), error_kind="permanent")
                raise
            except Exception as err:
                # Unexpected: logged with its traceback, recorded, and reported as transient so
                # that a caller's retry starts a new attempt (bounded by its retry budget). The
                # message names the run, never the exception's text (internals stay in the log).
                run_id = get_run_id(request.pipeline, request.job, request.partition_key, attempt)
                _log.exception("run %s failed with an unexpected error", run_id)
                message = f"run {run_id} failed with an unexpected error (see the job-runner log)"
                record("failed", error=message, error_kind="transient")
                raise WarehouseError(message, transient=True) from err
            duration = self.clock() - started
            record(
                "succeeded",
                rows_written=stats.rows_written,
                bytes_processed=stats.bytes_processed,
                duration_seconds=duration,
                bigquery_job_id=stats.bigquery_job_id,
                details=stats.details,
            )
        return RunOutcome(
            run_id=get_run_id(request.pipeline, request.job, request.partition_key, attempt),
            pipeline=request.pipeline,
            job=request.job,
            partition_key=request.partition_key,
            attempt=attempt,
            status="succeeded",
            rows_written=stats.rows_written,
            bytes_processed=stats.bytes_processed,
            duration_seconds=round(duration, 3),
            bigquery_job_id=stats.bigquery_job_id,
        )

    def _execute(
        self,
        job_name: str,
        job: Job,
        partition: Partition,
        job_id_base: str,
        deadline: float,
        *,
        pipeline_name: str = "",
        attempt: int = 1,
    ) -> WriteStats:
        hang = None
        if self.faults is not None:
            faults = self.faults
            hang = lambda: faults.hang_after_submit(partition.key)  # noqa: E731
        if isinstance(job, BigQuerySqlJob):
            select_sql = self.get_select_sql(job)
            self._check_contract(job, select_sql, partition)
            return self.writer.write(
                self.get_destination(job), job.destination, job.write, select_sql,
                partition.get_query_parameters(), job_id_base, deadline, hang,
            )  # fmt: skip
        if isinstance(job, DedupJob):
            return self.writer.write(
                self.get_destination(job), job.destination, ReplacePartition(),
                self.get_select_sql(job), partition.get_query_parameters(), job_id_base,
                deadline, hang,
            )  # fmt: skip
        if isinstance(job, DbtJob | DataformJob):
            return self._run_transform(job, partition)
        if isinstance(job, HttpJob):
            from job_runner.domain.http_jobs import run_http_job

            return run_http_job(self, pipeline_name, job_name, job, partition, attempt, deadline)
        if isinstance(job, CloudRunJob):
            from job_runner.domain.cloud_run_jobs import run_cloud_run_job

            return run_cloud_run_job(self, pipeline_name, job_name, job, partition, attempt)
        raise AssertionError(f"job {job_name!r} has kind {job.kind!r}, which the spec refuses")

    def _run_transform(self, job: DbtJob | DataformJob, partition: Partition) -> WriteStats:
        from dayflow.transforms.partition_vars import PartitionVars

        start, end = partition.scheme.get_partition_bounds(partition.key)
        kwargs = {
            "spec_root": self.spec.root,
            "partition": PartitionVars(partition.key, start, end),
            "project": self.project,
            "dataset_prefix": self.environment.dataset_prefix,
            "bigquery_endpoint": self.bigquery_endpoint,
            "timeout": float(job.timeout_seconds),
            "location": self.location,
        }
        if isinstance(job, DbtJob):
            from dayflow.transforms.dbt import run_dbt

            # The environment's name is dbt's target (dev, prod) unless the job names one.
            kwargs |= {"environment": self.env, "service_account": self.transform_accounts.dbt}
            result = run_dbt(job, **kwargs)  # type: ignore[arg-type]
        else:
            from dayflow.transforms.dataform import run_dataform

            kwargs["service_account"] = self.transform_accounts.dataform
            result = run_dataform(job, **kwargs)  # type: ignore[arg-type]
        details = [node.model_dump(mode="json") for node in result.nodes]
        if not result.success:
            raise WarehouseError(
                result.error or f"{result.tool} run failed", transient=result.transient,
                details=details,
            )  # fmt: skip
        return WriteStats(
            rows_written=result.rows_written or 0,
            bytes_processed=0,
            bigquery_job_id=None,
            details=details,
        )

    def _check_contract(self, job: BigQuerySqlJob, select_sql: str, partition: Partition) -> None:
        """Refuse to write an exposed table unless the SELECT returns exactly its declared
        columns and types: a dry run (free, nothing written) reports the SELECT's schema."""
        key = f"{job.destination.dataset}.{job.destination.table}"
        exposed = self.spec.exposes.get(key)
        if exposed is None:
            return
        from google.cloud import bigquery

        from dayflow.contracts import check_select_schema

        config = bigquery.QueryJobConfig(
            dry_run=True, query_parameters=partition.get_query_parameters()
        )
        try:
            schema = self.client.query(select_sql, job_config=config).schema or []
        except Exception as err:
            raise classify_error(err) from err
        problems = check_select_schema(key, exposed, [(f.name, f.field_type) for f in schema])
        if problems:
            raise WarehouseError("; ".join(problems), transient=False)

    def render_sql(self, sql: str) -> str:
        """Replace `{{ dataset:NAME }}` with this environment's dataset id for NAME, and
        `{{ consumes:DOMAIN.DATASET.TABLE }}` with the consumed table's id here."""
        from dayflow.spec_domains import CONSUMES_PLACEHOLDER, get_consumed_ref

        def dataset_id(match: re.Match[str]) -> str:
            return validate_identifier(self.environment.get_dataset_id(match[1]), "dataset")

        def consumed_table(match: re.Match[str]) -> str:
            if match[1] not in self.spec.consumes:  # load_spec refuses it; a guard for safety
                raise UserError(f"SQL names {match[0]} which the spec does not consume")
            return TableRef(*get_consumed_ref(self.spec, match[1], self.env)).sql

        return CONSUMES_PLACEHOLDER.sub(consumed_table, _DATASET_PLACEHOLDER.sub(dataset_id, sql))

    def get_select_sql(self, job: BigQuerySqlJob | DedupJob) -> str:
        """The SELECT that a run of `job` writes (and the backfill estimate dry-runs)."""
        if isinstance(job, BigQuerySqlJob):
            return self.render_sql((self.spec.root / job.sql).read_text())
        from dayflow.semantic import build_dedup_sql

        topic = self.spec.topics[job.topic]
        ingest = f"{self.project}.{self.environment.get_dataset_id(topic.ingest_dataset)}"
        return build_dedup_sql(job.topic, topic, job, ingest)

    def get_destination(self, job: BigQuerySqlJob | DedupJob | HttpJob) -> TableRef:
        assert job.destination is not None  # http jobs without one have no table
        dataset = self.environment.get_dataset_id(job.destination.dataset)
        return TableRef(self.project, dataset, job.destination.table)
