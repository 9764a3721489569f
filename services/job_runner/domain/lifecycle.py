"""The lifecycle of a run: start it in the background, attach retries to it, answer polls.

Why asynchronous: Workflows' `http.post` waits at most 1,800 s
(https://cloud.google.com/workflows/docs/http-requests), but a job may run for its whole
`timeout_seconds` (an hour by default; Cloud Run holds a request up to 3,600 s:
https://cloud.google.com/run/docs/configuring/request-timeout). A held request that outlived the
caller's timeout was retried and ran the job a second time. So POST /runs starts the attempt on
this instance's run pool (`max_concurrent_runs` threads, apart from the HTTP threads) and answers
within `hold_seconds`: with the outcome if the run ended by then, else 202 `running` with
`retry_after`. The caller then polls GET /runs/{run_id}, which answers the same way.

Attaching (a retried request never starts a second attempt while the first one lives):
- an explicit `attempt`: that attempt. It is executed again only if it is neither running nor
  succeeded; its BigQuery job ids are deterministic, so a re-execution attaches to its job.
- a `request_key` (Workflows passes its execution id): the newest attempt started with that key,
  unless it failed transiently or went stale: then the request is the caller's retry, and a new
  attempt starts (recorded under the same key).
- neither: a new attempt (the ledger's newest + 1), or the newest itself if it is `waiting`
  (it never ran: see `job_runner.domain.upstream`).

Leases: an attempt is recorded `running` when it is accepted, with a lease of its timeout plus a
margin (one ledger row: a run waits in the pool's queue only while the instance is over
`max_concurrent_runs`, and one that waited past its lease fails instead of starting). A process
that dies never writes the final row; once the lease has expired the run reads `stale` (see
`dayflow.ledger`).

The pool threads work after the response has gone. On Cloud Run that needs CPU outside requests,
that is instance-based billing (`cpu_idle = false`:
https://cloud.google.com/run/docs/configuring/billing-settings): under request-based billing
the CPU is throttled between requests and an in-process dbt or Dataform run would stall between
polls. BigQuery jobs run server-side and only their final bookkeeping would wait. Cloud Run also
removes instances that serve no request; with CPU in use outside requests Google advises at least
one minimum instance (https://cloud.google.com/run/docs/about-instance-autoscaling). An instance
removed mid-run is a crash like any other: its lease expires, polls answer 503 (stale), and the
caller's retry starts the next attempt.
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from dayflow.errors import NotFoundError, UpstreamNotReadyError, WarehouseError
from dayflow.ledger import RunRecord, RunState, RunStatus, get_run_id
from dayflow.partition_bounds import check_partition_key

if TYPE_CHECKING:
    from job_runner.domain.runner import JobRunner

# A lease outlives the job's timeout by this much: time to record the outcome after a timeout.
LEASE_MARGIN_SECONDS = 300
# Bounds of the suggested poll interval (half the time the run has taken so far).
MIN_RETRY_AFTER_SECONDS = 5
MAX_RETRY_AFTER_SECONDS = 300
_LIVE = frozenset({"queued", "running"})


@dataclass(frozen=True)
class RunRequest:
    pipeline: str
    job: str
    partition_key: str
    attempt: int | None = None
    backfill_id: str | None = None
    # An idempotency key (Workflows passes its execution id): a retried request with the same
    # key attaches to the attempt it started, unless that attempt failed transiently or died.
    request_key: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    """A run's state as POST /runs and GET /runs/{run_id} answer it (200 or 202)."""

    run_id: str
    pipeline: str
    job: str
    partition_key: str
    attempt: int
    status: str
    rows_written: int | None
    bytes_processed: int | None
    duration_seconds: float | None
    bigquery_job_id: str | None
    # While `queued` or `running`: seconds after which a status poll is worth making.
    retry_after: int | None = None


@dataclass
class RunTicket:
    """A started or attached attempt: `future` when it runs (or ran) in this process, else
    its newest ledger `state` (another instance runs it, or it has ended)."""

    request: RunRequest
    attempt: int
    started_at: datetime
    future: Future[RunOutcome] | None = None
    state: RunState | None = None
    run_id: str = field(init=False)

    def __post_init__(self) -> None:
        r = self.request
        self.run_id = get_run_id(r.pipeline, r.job, r.partition_key, self.attempt)


def choose_attempt(request: RunRequest, attempts: list[RunState]) -> tuple[int, RunState | None]:
    """The attempt a request names, and its ledger state when the request attaches to it
    (None: execute that attempt). `attempts` are the newest states per attempt, newest first."""
    if request.attempt is not None:
        state = next((s for s in attempts if s.attempt == request.attempt), None)
        if state is not None and (state.status in _LIVE or state.status == "succeeded"):
            return request.attempt, state
        return request.attempt, None
    if request.request_key is not None:
        keyed = next((s for s in attempts if s.request_key == request.request_key), None)
        if keyed is not None and (
            keyed.status in _LIVE
            or keyed.status == "succeeded"
            or (keyed.status == "failed" and keyed.error_kind != "transient")
        ):
            return keyed.attempt, keyed
    if attempts and attempts[0].status == "waiting":
        return attempts[0].attempt, None  # a waiting attempt never ran: it is checked again
    return 1 + (attempts[0].attempt if attempts else 0), None


def get_retry_after(started_at: datetime, now: datetime) -> int:
    """Half the time the run has taken so far, within [5, 300] s: polls thin out geometrically,
    so a 40-minute run costs about a dozen polls, and a poll comes at most 50% late."""
    elapsed = (now - started_at).total_seconds()
    return int(min(MAX_RETRY_AFTER_SECONDS, max(MIN_RETRY_AFTER_SECONDS, elapsed / 2)))


class RunLifecycle:
    """Starts attempts on a bounded pool and keeps the ones in progress in this process."""

    def __init__(self, runner: JobRunner, max_concurrent_runs: int, hold_seconds: float) -> None:
        self.runner = runner
        self.hold_seconds = hold_seconds
        self._pool = ThreadPoolExecutor(max_concurrent_runs, thread_name_prefix="dayflow-run")
        self._lock = threading.Lock()
        self._active: dict[str, RunTicket] = {}
        self._keys: dict[tuple[str, str, str, str], str] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def start(self, request: RunRequest) -> RunTicket:
        """Start the attempt that `request` names, or attach to it (module docstring)."""
        pipeline, job = self.runner.get_job(request.pipeline, request.job)
        # Every check before the first ledger row: a bad key writes nothing.
        check_partition_key(request.pipeline, pipeline, request.partition_key)
        day = self.runner.get_partition_date(pipeline, request.partition_key)
        with self._lock:
            ticket = self._find_active(request)
        if ticket is not None:
            return ticket
        attempts = self.runner.ledger.get_attempts(
            request.pipeline, request.job, request.partition_key, day
        )
        attempt, state = choose_attempt(request, attempts)
        if state is not None:
            return RunTicket(request, attempt, state.recorded_at, state=state)
        # Upstream partitions in other pipelines not all in: recorded waiting, and raised.
        self.runner.upstream.check(request, attempt, day, attempts)
        return self._launch(request, attempt, day, job.timeout_seconds)

    def get_ticket(self, pipeline: str, job: str, partition_key: str, attempt: int) -> RunTicket:
        """The attempt's ticket, for a status poll: in progress here, else from the ledger."""
        spec_pipeline, _ = self.runner.get_job(pipeline, job)
        day = self.runner.get_partition_date(spec_pipeline, partition_key)
        run_id = get_run_id(pipeline, job, partition_key, attempt)
        with self._lock:
            ticket = self._active.get(run_id)
        if ticket is not None:
            return ticket
        attempts = self.runner.ledger.get_attempts(pipeline, job, partition_key, day)
        state = next((s for s in attempts if s.attempt == attempt), None)
        if state is None:
            raise NotFoundError(f"unknown run {run_id!r} (expected a run that POST /runs started)")
        request = RunRequest(pipeline, job, partition_key, attempt, state.backfill_id)
        return RunTicket(request, attempt, state.recorded_at, state=state)

    def get_outcome(self, ticket: RunTicket) -> RunOutcome:
        """The run's outcome now: succeeded, or queued/running with `retry_after`. A failed or
        stale run raises its WarehouseError (transient: a retry may succeed) or UserError."""
        if ticket.future is not None:
            if ticket.future.done():
                return ticket.future.result()
            return self._pending(ticket, "running", ticket.started_at)
        state = ticket.state
        assert state is not None
        if state.status == "succeeded":
            return RunOutcome(
                run_id=ticket.run_id,
                pipeline=ticket.request.pipeline,
                job=ticket.request.job,
                partition_key=ticket.request.partition_key,
                attempt=ticket.attempt,
                status="succeeded",
                rows_written=state.rows_written,
                bytes_processed=state.bytes_processed,
                duration_seconds=state.duration_seconds,
                bigquery_job_id=state.bigquery_job_id,
            )
        if state.status == "failed":
            raise WarehouseError(
                state.error or f"run {ticket.run_id} failed",
                transient=state.error_kind == "transient",
                job_id=state.bigquery_job_id,
            )
        if state.status == "waiting":
            r = ticket.request
            missing = self.runner.upstream.find_missing(r.pipeline, r.job, r.partition_key)
            raise UpstreamNotReadyError(
                state.error or f"run {ticket.run_id} is waiting for upstream partitions",
                run_id=ticket.run_id,
                missing=missing,
            )
        if state.status == "stale":
            raise WarehouseError(
                f"run {ticket.run_id} is stale: its lease expired at {state.lease_expires_at} "
                "without an outcome (the job-runner running it stopped); retry it",
                transient=True,
            )
        return self._pending(ticket, state.status, state.recorded_at)

    def wait(self, ticket: RunTicket) -> RunOutcome:
        """Block until a run of this process ends (else answer its current outcome)."""
        if ticket.future is not None:
            return ticket.future.result()
        return self.get_outcome(ticket)

    def _pending(self, ticket: RunTicket, status: RunStatus, since: datetime) -> RunOutcome:
        return RunOutcome(
            run_id=ticket.run_id,
            pipeline=ticket.request.pipeline,
            job=ticket.request.job,
            partition_key=ticket.request.partition_key,
            attempt=ticket.attempt,
            status=status,
            rows_written=None,
            bytes_processed=None,
            duration_seconds=None,
            bigquery_job_id=None,
            retry_after=get_retry_after(since, self.runner.now()),
        )

    def _find_active(self, request: RunRequest) -> RunTicket | None:
        if request.attempt is not None:
            run_id = get_run_id(
                request.pipeline, request.job, request.partition_key, request.attempt
            )
            return self._active.get(run_id)
        if request.request_key is not None:
            run_id = self._keys.get(_key_of(request), "")
            return self._active.get(run_id)
        return None

    def _launch(self, request: RunRequest, attempt: int, day: date, timeout: int) -> RunTicket:
        now = self.runner.now()
        ticket = RunTicket(request, attempt, now, future=Future())
        with self._lock:
            existing = self._active.get(ticket.run_id)
            if existing is not None:  # a concurrent identical request got here first
                return existing
            self._active[ticket.run_id] = ticket
            if request.request_key is not None:
                self._keys[_key_of(request)] = ticket.run_id
        future = ticket.future
        assert future is not None
        future.add_done_callback(lambda _: self._forget(ticket))
        lease = now + timedelta(seconds=timeout + LEASE_MARGIN_SECONDS)
        try:
            self._record(request, attempt, day, "running", lease)
            # In the caller's context: the run's log lines carry the request's trace id.
            context = contextvars.copy_context()
            self._pool.submit(context.run, self._execute, ticket, timeout, lease)
        except Exception as err:
            future.set_exception(err)
            raise
        return ticket

    def _execute(self, ticket: RunTicket, timeout: int, lease: datetime) -> None:
        """Pool thread: execute the attempt and resolve its future."""
        future = ticket.future
        assert future is not None
        if not future.set_running_or_notify_cancel():
            return
        try:
            if self.runner.now() > lease - timedelta(seconds=timeout):
                # It could not finish within its lease: callers would see it stale meanwhile
                # and may start another attempt.
                raise WarehouseError(
                    f"run {ticket.run_id} waited in this instance's queue too long; retry it",
                    transient=True,
                )
            deadline = self.runner.clock() + timeout
            outcome = self.runner.execute(ticket.request, ticket.attempt, deadline)
        except BaseException as err:
            future.set_exception(err)
        else:
            future.set_result(outcome)

    def _record(
        self, request: RunRequest, attempt: int, day: date, status: RunStatus, lease: datetime
    ) -> None:
        self.runner.ledger.record(
            RunRecord(
                pipeline=request.pipeline,
                job=request.job,
                partition_key=request.partition_key,
                partition_date=day,
                attempt=attempt,
                status=status,
                backfill_id=request.backfill_id,
                lease_expires_at=lease,
                request_key=request.request_key,
                recorded_at=self.runner.now(),
            )
        )

    def _forget(self, ticket: RunTicket) -> None:
        """Once the final ledger row is written, polls read the ledger instead."""
        with self._lock:
            if self._active.get(ticket.run_id) is ticket:
                del self._active[ticket.run_id]
            if ticket.request.request_key is not None:
                key = _key_of(ticket.request)
                if self._keys.get(key) == ticket.run_id:
                    del self._keys[key]


def _key_of(request: RunRequest) -> tuple[str, str, str, str]:
    assert request.request_key is not None
    return (request.pipeline, request.job, request.partition_key, request.request_key)
