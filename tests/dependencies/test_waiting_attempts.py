"""A waiting attempt never ran: requests re-check it under the same number (pure rules of
job_runner.domain.lifecycle.choose_attempt)."""

from __future__ import annotations

from datetime import UTC, datetime

from dayflow.cli.styles import ERROR_STATES, STATUS_STYLE
from dayflow.ledger import FAILED_STATUSES, RUN_STATUSES, RunState, RunStatus
from job_runner.domain.lifecycle import RunRequest, choose_attempt

NOW = datetime(2024, 3, 11, 7, tzinfo=UTC)


def state(attempt: int, status: RunStatus, key: str | None = None) -> RunState:
    return RunState(
        partition_key="2024-03-10",
        job="rollup",
        status=status,
        attempt=attempt,
        error=None,
        rows_written=None,
        backfill_id=None,
        recorded_at=NOW,
        request_key=key,
    )


def request(attempt: int | None = None, key: str | None = None) -> RunRequest:
    return RunRequest("meter_daily", "rollup", "2024-03-10", attempt=attempt, request_key=key)


def test_a_new_request_rechecks_the_waiting_attempt() -> None:
    assert choose_attempt(request(), [state(2, "waiting"), state(1, "failed")]) == (2, None)


def test_the_waiting_callers_next_poll_rechecks_its_attempt() -> None:
    assert choose_attempt(request(key="exec-1"), [state(1, "waiting", "exec-1")]) == (1, None)


def test_an_explicit_attempt_that_waits_is_checked_again() -> None:
    assert choose_attempt(request(attempt=1), [state(1, "waiting")]) == (1, None)


def test_after_a_run_the_next_request_starts_a_new_attempt() -> None:
    assert choose_attempt(request(), [state(1, "succeeded")]) == (2, None)


def test_every_run_status_has_a_cli_style_and_waiting_is_not_a_failure() -> None:
    assert set(RUN_STATUSES) <= set(STATUS_STYLE)
    assert "waiting" not in FAILED_STATUSES
    assert "waiting" not in ERROR_STATES
