"""`LocalProject`: a dayflow project on its own local stack, driven as its tests need it.

Every call goes through what `dayflow` itself uses: the job-runner's HTTP API
(`JobRunnerClient`), the Workflows engine's Executions API, `dayflow.seed` and the BigQuery
emulator. A mistake of the test's author (no spec file, an unknown pipeline, job or table, a row
with an unknown column) fails the test with one line, without a traceback; a job that fails is
not a mistake: `run` records it, `assert_succeeded` names it.

Heavy imports (google-cloud, httpx, pydantic) happen on first use, never at import: the pytest
plugin imports this module in every session.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

if TYPE_CHECKING:
    from types import TracebackType

    from google.cloud import bigquery

    from dayflow.executions import WorkflowsExecutions
    from dayflow.runner_client import JobRunnerClient
    from dayflow.spec import Spec

ENV = "local"
# Seconds between polls of a backfill's execution (its end is what the wait follows).
BACKFILL_POLL_SECONDS = 0.2


def fail(message: str) -> NoReturn:
    """Fail the running test with one line and no traceback (a user error, not a bug)."""
    import pytest

    __tracebackhide__ = True
    # `from None`: raised while another exception is handled, the report shows no chain.
    raise pytest.fail.Exception(message, pytrace=False) from None


@contextlib.contextmanager
def user_errors_fail_the_test() -> Iterator[None]:
    """Turn dayflow's UserError (an unknown pipeline, a bad range...) into a one-line failure."""
    from dayflow.errors import UserError

    __tracebackhide__ = True
    try:
        yield
    except UserError as err:
        fail(str(err))


class LocalProject:
    """A dayflow project (one spec) with its local stack running: BigQuery emulator, job-runner,
    Workflows engine, scheduler (its jobs paused), and the ingest function when the spec has
    topics.

    Start one with `LocalProject.start(spec_path, state_dir)` (or the `dayflow_project` fixture)
    and stop it with `stop()`; it is also a context manager.
    """

    def __init__(self, spec: Spec, spec_path: Path, state_dir: Path, urls: dict[str, Any]) -> None:
        self.spec = spec
        self.spec_path = spec_path
        self.state_dir = state_dir
        # The running services, as `dayflow local up` records them in <state_dir>/stack.json.
        self.urls = urls
        self._runner: JobRunnerClient | None = None
        self._bigquery: bigquery.Client | None = None
        self._executions: WorkflowsExecutions | None = None
        # Tests may call from several threads (concurrent runs): the clients are made once.
        self._lock = threading.Lock()

    @classmethod
    def start(cls, spec_path: Path, state_dir: Path) -> LocalProject:
        """Load the spec and start its local stack on free ports, data under `state_dir`."""
        from dayflow.local import stack
        from dayflow.spec import load_spec

        __tracebackhide__ = True
        spec_path = spec_path.resolve()
        with user_errors_fail_the_test():
            spec = load_spec(spec_path)
        urls = stack.up(spec, spec_path, state_dir, free_ports=True)
        return cls(spec, spec_path, state_dir, urls)

    def stop(self) -> list[str]:
        """Close the clients and stop every process of the stack; return those that ran."""
        from dayflow.local import stack

        for client in (self._runner, self._bigquery):
            if client is not None:
                client.close()
        self._runner = self._bigquery = self._executions = None
        return stack.down(self.state_dir)

    def __enter__(self) -> LocalProject:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Clients, made on first use.

    @property
    def runner(self) -> JobRunnerClient:
        """The job-runner's HTTP client, as the CLI uses it."""
        with self._lock:
            if self._runner is None:
                from dayflow.runner_client import JobRunnerClient

                self._runner = JobRunnerClient(self.urls["job_runner_url"])
            return self._runner

    @property
    def bigquery(self) -> bigquery.Client:
        """A client of the stack's BigQuery emulator."""
        with self._lock:
            if self._bigquery is None:
                from dayflow.warehouse import make_bigquery_client

                project = self.spec.get_environment(ENV).gcp_project
                self._bigquery = make_bigquery_client(project, self.urls["bigquery_endpoint"])
            return self._bigquery

    @property
    def executions(self) -> WorkflowsExecutions:
        """The Workflows engine's Executions API (gRPC), as the CLI uses it."""
        with self._lock:
            if self._executions is None:
                from dayflow.executions import WorkflowsExecutions

                project = self.spec.get_environment(ENV).gcp_project
                self._executions = WorkflowsExecutions(
                    project, self.urls["workflows_location"], self.urls["workflows_grpc"]
                )
            return self._executions

    # Data in.

    def seed(self, *tables: str) -> dict[str, int]:
        """Load the declared seed files (of `tables`, named `source.table`; default: all),
        replacing each table's rows; return rows per table."""
        from dayflow.seed import seed_sources

        __tracebackhide__ = True
        with user_errors_fail_the_test():
            return seed_sources(self.spec, ENV, self.bigquery, list(tables) or None)

    def load_rows(self, table: str, rows: list[dict[str, Any]], *, append: bool = False) -> int:
        """Load `rows` into the declared source table `table` (`source.table`), replacing its
        rows (or appending to them); return the table's row count after the load.

        Each row's keys must be declared columns (one missing loads as NULL); dates, datetimes
        and Decimals may be given as such.
        """
        from dayflow.seed import load_source_rows

        __tracebackhide__ = True
        with user_errors_fail_the_test():
            return load_source_rows(self.spec, ENV, self.bigquery, table, rows, append=append)

    # Runs.

    def run(
        self, pipeline: str, partition_key: str, *, job: str | None = None
    ) -> list[dict[str, Any]]:
        """Run one partition's jobs (or only `job`) through the job-runner in plan order, as
        `dayflow run` does, each until it ends; return one record per job (`not run` after a
        failed wave).

        A failed job does not raise: its record has `status: "failed"` and `error`, and its
        downstream jobs are `not run` (see `assert_succeeded`).
        """
        from dayflow.partition_runs import check_run, run_partition

        __tracebackhide__ = True
        with user_errors_fail_the_test():
            check_run(self.spec, pipeline, partition_key, job)
            return run_partition(self.runner, pipeline, partition_key, job)

    def backfill(
        self,
        pipeline: str,
        start: str,
        end: str,
        *,
        only: Literal["all", "failed", "missing"] = "all",
        order: Literal["asc", "desc"] = "asc",
        concurrency: int = 4,
    ) -> dict[str, Any]:
        """Run `start`..`end` (inclusive) as a `backfill` Workflows execution on the local
        engine, started by the job-runner (POST /backfills, as `dayflow backfill` starts it),
        until the execution ends; return its summary (`partitions`, `succeeded`, `failed`,
        `failed_keys`, `skipped`...) with `backfill_id` and `execution`. `only`, `order` and
        `concurrency` mean what `dayflow backfill`'s options do (only="failed" repairs).

        Failed partitions do not raise (see `assert_succeeded`); an execution that itself
        failed does, naming its error.
        """
        __tracebackhide__ = True
        with user_errors_fail_the_test():
            self.spec.get_pipeline(pipeline)
            started = self.runner.create_backfill(
                {"pipeline": pipeline, "start": start, "end": end, "only": only, "order": order,
                 "concurrency": concurrency}
            )  # fmt: skip
        if started["execution"] is None:  # nothing to run in the range
            return {"backfill_id": None, "execution": None, "partitions": 0, "succeeded": 0,
                    "failed": 0, "failed_keys": []}  # fmt: skip
        execution = self.executions.get(started["execution"])
        while not execution.is_done:
            time.sleep(BACKFILL_POLL_SECONDS)
            execution = self.executions.get(execution.name)
        if execution.state != "SUCCEEDED":
            raise AssertionError(
                f"backfill {started['backfill_id']} of {pipeline} {start}..{end}: execution "
                f"{execution.state}: {execution.error}"
            )
        summary: dict[str, Any] = execution.result or {}
        return {"backfill_id": started["backfill_id"], "execution": execution.name, **summary}

    # Data and ledger out.

    def checksum(
        self, pipeline: str, start: str, end: str | None = None
    ) -> dict[str, dict[str, tuple[int, str]]]:
        """Per partition key in `start`..`end` (default: `start` alone), each table the pipeline
        replaces by its logical name (`dataset.table`): (row count, order-independent
        fingerprint). A rerun that changes nothing leaves it equal."""
        __tracebackhide__ = True
        with user_errors_fail_the_test():
            self.spec.get_pipeline(pipeline)
            result = self.runner.get_checksums(pipeline, start, end or start)
        logical = self._get_logical_names(pipeline)
        return {
            p["partition_key"]: {
                logical.get(t["table"], t["table"]): (t["rows"], t["fingerprint"])
                for t in p["tables"]
            }
            for p in result["partitions"]
        }

    def read_table(self, dataset: str, table: str) -> list[dict[str, Any]]:
        """Every row of `dataset.table` as dicts (BigQuery's Python types; no order). `dataset`
        is the logical name: the local environment's prefix is applied, except to sources,
        which are read under their own name."""
        from google.api_core.exceptions import NotFound

        from dayflow.warehouse import TableRef

        __tracebackhide__ = True
        environment = self.spec.get_environment(ENV)
        physical = dataset if dataset in self.spec.sources else environment.get_dataset_id(dataset)
        with user_errors_fail_the_test():
            ref = TableRef(environment.gcp_project, physical, table)
        try:
            return [dict(row.items()) for row in self.bigquery.list_rows(ref.table_id)]
        except NotFound:
            fail(f"table {dataset}.{table} not found in the local warehouse (as {ref.table_id})")

    def get_runs(self, pipeline: str, start: str, end: str | None = None) -> list[dict[str, Any]]:
        """The run ledger's newest state of each job of each partition in `start`..`end`
        (default: `start` alone) that has run: `partition_key`, `job`, `status`, `attempt`,
        `error`, `rows_written`; by partition, then in the pipeline's job order."""
        __tracebackhide__ = True
        with user_errors_fail_the_test():
            self.spec.get_pipeline(pipeline)
            grid = self.runner.get_status(pipeline, start, end or start)
        return [
            {"partition_key": row["partition_key"], "job": job, **row["jobs"][job]}
            for row in grid["partitions"]
            for job in grid["jobs"]
            if job in row["jobs"]
        ]

    def assert_succeeded(self, pipeline: str, start: str, end: str | None = None) -> None:
        """Assert that every job of every partition in `start`..`end` (default: `start` alone)
        last succeeded; else an AssertionError with one line per partition and job that did not
        (its status and error, or that it never ran)."""
        __tracebackhide__ = True
        with user_errors_fail_the_test():
            self.spec.get_pipeline(pipeline)
            grid = self.runner.get_status(pipeline, start, end or start)
        problems = []
        for row in grid["partitions"]:
            for job in grid["jobs"]:
                state = row["jobs"].get(job)
                if state is None:
                    problems.append(f"  {row['partition_key']} {job}: never ran")
                elif state["status"] != "succeeded":
                    error = f": {state['error']}" if state.get("error") else ""
                    problems.append(
                        f"  {row['partition_key']} {job}: {state['status']} "
                        f"(attempt {state['attempt']}){error}"
                    )
        if problems:
            checked = len(grid["partitions"]) * len(grid["jobs"])
            raise AssertionError(
                f"{pipeline} {start}..{end or start}: {len(problems)} of {checked} partition "
                "jobs did not succeed:\n" + "\n".join(problems)
            )

    def _get_logical_names(self, pipeline: str) -> dict[str, str]:
        """Physical `dataset.table` (prefixed) -> logical, for the pipeline's destinations."""
        environment = self.spec.get_environment(ENV)
        names = {}
        for job in self.spec.get_pipeline(pipeline).jobs.values():
            destination = getattr(job, "destination", None)
            if destination is not None:
                logical = f"{destination.dataset}.{destination.table}"
                physical = f"{environment.get_dataset_id(destination.dataset)}.{destination.table}"
                names[physical] = logical
        return names
