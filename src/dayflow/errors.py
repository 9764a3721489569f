"""dayflow's exception hierarchy. Messages say what was found and what was expected."""

from __future__ import annotations

from typing import Any


class DayflowError(Exception):
    """Base of every error dayflow raises on purpose."""


class UserError(DayflowError):
    """Bad input from a user: printed as one line (exit 2 from the CLI, 4xx over HTTP)."""


class SpecError(UserError):
    """A spec file is invalid. Holds one line per problem."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


class NotFoundError(UserError):
    """An unknown pipeline, job, backfill or execution."""


class WarehouseError(DayflowError):
    """A BigQuery job failed. `transient` errors (5xx, 429, aborted transactions) may be retried."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        job_id: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.job_id = job_id
        # Per-node results of a failed dbt or Dataform run, for the ledger.
        self.details = details


class UpstreamNotReadyError(DayflowError):
    """A run did not start: partitions of other pipelines it depends on have not succeeded.

    Not a failure: the run is recorded `waiting` (HTTP 409 with `error_kind: waiting`).
    `missing` names each upstream partition ({pipeline, job, partition_key, status}); a caller
    that waits polls again after `retry_after` seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        missing: list[dict[str, str]],
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.missing = missing
        self.retry_after = retry_after


class UpstreamTimeoutError(DayflowError):
    """A run waited for its upstream partitions past its pipeline's `upstream_wait` timeout:
    it failed for good (HTTP 422, permanent)."""


class UnavailableError(DayflowError):
    """A service dayflow depends on (such as the Workflows API) could not be reached or did not
    answer; the same request may succeed later (HTTP 503)."""


class TransformError(UserError):
    """A dbt or Dataform job cannot run: a bad project, bad vars or a bad selection.

    Raised before anything is written; the message names the project and what to fix.
    """


class ToolNotInstalledError(TransformError):
    """A dbt or Dataform job needs a tool that is missing; the message says how to install it."""
