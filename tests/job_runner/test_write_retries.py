"""PartitionWriter's retries against fakes of the BigQuery client (no emulator needed).

- `jobs.get` can answer 404 right after `jobs.insert` answered 409 for the same job id
  (googleapis/python-bigquery#2134); google-cloud-bigquery retries that 404 itself
  (`_DEFAULT_GET_JOB_CONFLICT_RETRY`) when it chose the job id. Ours are deterministic, so we do.
- An aborted transaction (https://cloud.google.com/bigquery/docs/transactions#transaction_concurrency)
  is retried with jittered backoff until the run's deadline, not for a few seconds.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from google.api_core.exceptions import BadRequest, Conflict, NotFound

from dayflow.errors import WarehouseError
from dayflow.spec import Destination, ReplacePartition
from dayflow.warehouse import TableRef
from job_runner.domain.writes import GET_JOB_AFTER_CONFLICT_SECONDS, PartitionWriter

DEST = TableRef("test-project", "staging", "orders")
DESTINATION = Destination(dataset="staging", table="orders", partition_field="order_date")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class _Field:
    def __init__(self, name: str) -> None:
        self.name = name


class _Table:
    schema = [_Field("order_date"), _Field("amount")]


class FakeJob:
    """A finished query job, as jobs.get returns it (status.state DONE, no errorResult)."""

    def __init__(self, job_id: str, error: Exception | None = None) -> None:
        self.job_id = job_id
        self.state = "DONE"
        self.error_result = None
        self.num_dml_affected_rows = 7
        self.total_bytes_processed = 100
        self._error = error

    def result(self) -> None:
        if self._error is not None:
            raise self._error


class FakeClient:
    """jobs.insert answers 409 (the job exists: a retried request); jobs.get answers 404
    `not_found_times` times before it sees the job."""

    def __init__(self, not_found_times: int) -> None:
        self.not_found_times = not_found_times
        self.get_job_calls = 0

    def get_table(self, table_id: str) -> _Table:
        return _Table()

    def query(self, sql: str, **kwargs: Any) -> FakeJob:
        raise Conflict(f"Already Exists: Job test-project:US.{kwargs['job_id']}")

    def get_job(self, job_id: str) -> FakeJob:
        self.get_job_calls += 1
        if self.get_job_calls <= self.not_found_times:
            raise NotFound(f"Not found: Job test-project:US.{job_id}")
        return FakeJob(job_id)


def _write(writer: PartitionWriter, deadline: float | None = None) -> Any:
    return writer.write(DEST, DESTINATION, ReplacePartition(), "SELECT 1", [], "job", deadline)


def test_a_404_right_after_a_409_is_retried_until_the_job_is_visible() -> None:
    clock = FakeClock()
    client = FakeClient(not_found_times=3)
    writer = PartitionWriter(client, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]

    stats = _write(writer)

    assert (stats.rows_written, stats.bigquery_job_id) == (7, "job_r0")
    assert client.get_job_calls == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_a_404_after_a_409_that_outlasts_the_librarys_window_is_a_transient_error() -> None:
    clock = FakeClock()
    writer = PartitionWriter(FakeClient(not_found_times=10_000), sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]

    with pytest.raises(
        WarehouseError, match=re.escape("exists (409) but jobs.get still answers 404")
    ) as err:
        _write(writer)

    assert err.value.transient
    assert GET_JOB_AFTER_CONFLICT_SECONDS - 10 <= clock.now <= GET_JOB_AFTER_CONFLICT_SECONDS


class AbortingClient:
    """Each script is aborted by a concurrent transaction `aborts` times, then commits."""

    def __init__(self, aborts: int) -> None:
        self.aborts = aborts
        self.job_ids: list[str] = []

    def get_table(self, table_id: str) -> _Table:
        return _Table()

    def query(self, sql: str, **kwargs: Any) -> FakeJob:
        self.job_ids.append(kwargs["job_id"])
        if len(self.job_ids) <= self.aborts:
            message = "Transaction is aborted due to concurrent update against table orders"
            return FakeJob(kwargs["job_id"], BadRequest(message))
        return FakeJob(kwargs["job_id"])


def test_aborted_transactions_are_retried_with_jitter_for_minutes_within_the_deadline() -> None:
    clock = FakeClock()
    client = AbortingClient(aborts=12)
    writer = PartitionWriter(client, sleep=clock.sleep, clock=clock, rng=random.Random(1))  # type: ignore[arg-type]

    stats = _write(writer, deadline=3600)

    assert stats.bigquery_job_id == "job_r12"
    assert client.job_ids == [f"job_r{n}" for n in range(13)]
    assert len(set(clock.sleeps)) == 12  # jittered: no two sleeps alike
    assert all(0 <= s <= 60 for s in clock.sleeps)
    assert clock.now > 60  # far beyond the old budget of about 7 s


def test_aborted_transactions_stop_retrying_at_the_runs_deadline() -> None:
    clock = FakeClock()
    writer = PartitionWriter(AbortingClient(aborts=10_000), sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]

    with pytest.raises(WarehouseError, match="concurrent update") as err:
        _write(writer, deadline=600)

    assert err.value.transient
    assert clock.now < 600
