"""What a dbt or Dataform run returns: one result per node (model, test, assertion, ...) and a
verdict for the job, in the same shape for both tools so the run ledger stores them alike."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dayflow.transforms.transient import looks_transient

Tool = Literal["dbt", "dataform"]
# dbt models, seeds and snapshots and Dataform tables are all "model"; dbt data and unit tests
# are "test"; Dataform assertions are "assertion".
NodeKind = Literal["model", "test", "assertion", "operation", "seed", "snapshot"]
# `failed` covers a failing test or assertion and a node that errored; `warned` is a failing
# test that the job's `warn_tests` lets pass; `not_run` is a selected node the tool never reached.
NodeStatus = Literal["succeeded", "failed", "warned", "skipped", "cancelled", "not_run"]


class NodeResult(BaseModel):
    """One node of a run."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: NodeKind
    status: NodeStatus
    # Rows the node wrote (models), when the warehouse reports them.
    rows: int | None = None
    # Rows a failing test or assertion returned.
    failures: int | None = None
    seconds: float | None = None
    message: str | None = None
    bigquery_job_ids: tuple[str, ...] = ()

    @property
    def is_check(self) -> bool:
        """Whether this node is a data test or an assertion (a data-quality gate)."""
        return self.kind in ("test", "assertion")


class TransformResult(BaseModel):
    """The outcome of one dbt or Dataform run for one partition.

    `success` is False when a model failed, a test or assertion failed (unless it only warns),
    or the run timed out. Then `error` names the failing nodes, and `transient` says whether a
    retry may help: failing tests and assertions, SQL errors and compilation errors are
    permanent; time-outs and unreachable or overloaded services are transient.
    """

    model_config = ConfigDict(frozen=True)

    tool: Tool
    success: bool
    nodes: tuple[NodeResult, ...]
    # Rows written by the models, or None when the warehouse reported none.
    rows_written: int | None
    seconds: float
    error: str | None = None
    transient: bool = False

    @property
    def failed_checks(self) -> list[str]:
        """Names of the tests and assertions that failed (not those that only warned)."""
        return [n.name for n in self.nodes if n.is_check and n.status == "failed"]

    @property
    def warned_checks(self) -> list[str]:
        return [n.name for n in self.nodes if n.status == "warned"]

    def get_details(self) -> list[dict[str, Any]]:
        """Per-node results as JSON-ready dicts, for the run ledger's `details` column."""
        return [n.model_dump(mode="json", exclude_none=True) for n in self.nodes]


def sum_rows(nodes: list[NodeResult]) -> int | None:
    """Rows written by the models among `nodes`; None if none of them reported a count."""
    counts = [n.rows for n in nodes if not n.is_check and n.rows is not None]
    return sum(counts) if counts else None


def is_transient(nodes: list[NodeResult], *, timed_out: bool = False) -> bool:
    """Whether a failed run may succeed if retried.

    Never when a test or assertion failed: that is a verdict on the data. Otherwise yes when
    the run timed out, or when every failure reads like an outage or overload (SQL and
    compilation errors do not).
    """
    failing = [n for n in nodes if n.status in ("failed", "cancelled")]
    if not failing or any(n.is_check and n.status == "failed" for n in failing):
        return False
    return timed_out or all(
        looks_transient(n.message or "") for n in failing if n.status == "failed"
    )


def describe_failure(tool: Tool, nodes: list[NodeResult]) -> str | None:
    """One line naming what failed: failing tests and assertions first, then failed models."""
    checks = [n for n in nodes if n.is_check and n.status == "failed"]
    others = [n for n in nodes if not n.is_check and n.status in ("failed", "cancelled")]
    parts = []
    if checks:
        what = "test" if tool == "dbt" else "assertion"
        names = ", ".join(_with_count(n) for n in checks)
        parts.append(f"{tool} {what}{'s' if len(checks) > 1 else ''} failed: {names}")
    for node in others:
        reason = f": {_summary(node.message)}" if node.message else ""
        parts.append(f"{tool} {node.kind} {node.name} {node.status}{reason}")
    return "; ".join(parts) or None


def _with_count(node: NodeResult) -> str:
    if node.failures:
        return f"{node.name} ({node.failures} failing row{'s' if node.failures != 1 else ''})"
    return node.name


def _summary(text: str, limit: int = 300) -> str:
    """A message on one line, cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
