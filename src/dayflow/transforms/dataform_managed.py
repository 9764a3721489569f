"""Dataform jobs through the managed Dataform API (google-cloud-dataform, `dataform_v1`).

A run compiles the repository at `git_commitish` with the partition's vars, starts a workflow
invocation of the job's tags or actions, polls it until it ends, and reads back per-action
results. When the job's timeout fires first, the invocation is cancelled and the run is a
transient failure. There is no emulator of this API: tests drive this module through a fake
that satisfies `DataformApi`, the subset of `DataformClient` used here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from dayflow.errors import TransformError
from dayflow.transforms.results import (
    NodeKind,
    NodeResult,
    NodeStatus,
    TransformResult,
    describe_failure,
    is_transient,
    sum_rows,
)

if TYPE_CHECKING:
    from dayflow.spec import DataformJob

# Seconds per API call (each is a small request), and between polls of an invocation.
_CALL_TIMEOUT = 60.0
_POLL_FIRST = 1.0
_POLL_MAX = 15.0
_ROW_COUNT = re.compile(r"returned (\d+) row")
_ACTION_STATES: dict[str, NodeStatus] = {
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "SKIPPED": "skipped",
    "DISABLED": "skipped",
    "CANCELLED": "cancelled",
    "PENDING": "not_run",
    "RUNNING": "cancelled",
}
_TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


class DataformApi(Protocol):
    """The calls dayflow makes on `google.cloud.dataform_v1.DataformClient`."""

    def create_compilation_result(
        self, *, parent: str, compilation_result: Any, timeout: float
    ) -> Any: ...

    def query_compilation_result_actions(
        self, *, request: dict[str, Any], timeout: float
    ) -> Iterable[Any]: ...

    def create_workflow_invocation(
        self, *, parent: str, workflow_invocation: Any, timeout: float
    ) -> Any: ...

    def get_workflow_invocation(self, *, name: str, timeout: float) -> Any: ...

    def query_workflow_invocation_actions(
        self, *, request: dict[str, Any], timeout: float
    ) -> Iterable[Any]: ...

    def cancel_workflow_invocation(self, *, request: dict[str, Any], timeout: float) -> Any: ...


def make_dataform_client() -> DataformApi:
    """A real Dataform API client, with application default credentials."""
    from google.cloud import dataform_v1

    client: DataformApi = dataform_v1.DataformClient()
    return client


def get_repository_name(repository: str, project: str, location: str | None) -> str:
    """`projects/P/locations/L/repositories/R` from a full name or a bare repository id."""
    if repository.startswith("projects/"):
        return repository
    if not location:
        raise TransformError(
            f"managed Dataform repository {repository!r} needs a location (the environment's "
            "region), or a full name projects/P/locations/L/repositories/R"
        )
    return f"projects/{project}/locations/{location}/repositories/{repository}"


def run_managed_dataform(
    job: DataformJob,
    *,
    run_vars: dict[str, str],
    project: str,
    location: str | None,
    timeout: float,
    client: DataformApi | None = None,
    service_account: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> TransformResult:
    """Compile, invoke and poll the job's repository; cancel the invocation on timeout.

    With `service_account`, the workflow invocation runs under that account
    (`InvocationConfig.service_account`, google-cloud-dataform `dataform_v1`); without it, under
    the repository's service account, else Dataform's default service agent. Strict act-as mode
    requires the caller (the job-runner) to hold `iam.serviceAccounts.actAs` on that account
    (https://cloud.google.com/dataform/docs/strict-act-as-mode), and Dataform's service agent
    mints its tokens (https://cloud.google.com/dataform/docs/access-control).
    """
    from google.cloud.dataform_v1 import types

    assert job.managed is not None
    api = client or make_dataform_client()
    started = clock()
    deadline = started + timeout
    repository = get_repository_name(job.managed.repository, project, location)

    def call_timeout() -> float:
        return max(1.0, min(_CALL_TIMEOUT, deadline - clock()))

    compilation = api.create_compilation_result(
        parent=repository,
        compilation_result=types.CompilationResult(
            git_commitish=job.managed.git_commitish,
            code_compilation_config=types.CodeCompilationConfig(
                default_database=project,
                default_location=location or "",
                vars=run_vars,
            ),
        ),
        timeout=call_timeout(),
    )
    errors = [
        f"{e.path or '?'}: {e.message}" for e in getattr(compilation, "compilation_errors", [])
    ]
    if errors:
        raise TransformError(
            f"Dataform repository {repository} at {job.managed.git_commitish!r} does not "
            f"compile: {'; '.join(errors[:5])}"
        )
    kinds = _compiled_kinds(
        api.query_compilation_result_actions(
            request={"name": compilation.name}, timeout=call_timeout()
        )
    )
    targets = _resolve_actions(job.actions, kinds, repository)
    invocation = api.create_workflow_invocation(
        parent=repository,
        workflow_invocation=types.WorkflowInvocation(
            compilation_result=compilation.name,
            invocation_config=types.InvocationConfig(
                included_tags=list(job.tags),
                included_targets=[
                    types.Target(database=d, schema=s, name=n) for d, s, n in targets
                ],
                service_account=service_account or "",
            ),
        ),
        timeout=call_timeout(),
    )
    state, timed_out, interval = _state_name(invocation), False, _POLL_FIRST
    while state not in _TERMINAL:
        if clock() >= deadline:
            timed_out = True
            api.cancel_workflow_invocation(request={"name": invocation.name}, timeout=_CALL_TIMEOUT)
            break
        sleep(min(interval, max(0.0, deadline - clock())))
        interval = min(interval * 2, _POLL_MAX)
        invocation = api.get_workflow_invocation(name=invocation.name, timeout=call_timeout())
        state = _state_name(invocation)
    actions = api.query_workflow_invocation_actions(
        request={"name": invocation.name}, timeout=_CALL_TIMEOUT
    )
    nodes = [_node(a, kinds) for a in actions]
    if timed_out:
        nodes.append(
            NodeResult(
                name="workflow invocation",
                kind="operation",
                status="cancelled",
                message=f"cancelled after {timeout:g} s: {invocation.name}",
            )
        )
    elif state != "SUCCEEDED" and not any(n.status == "failed" for n in nodes):
        nodes.append(
            NodeResult(
                name="workflow invocation",
                kind="operation",
                status="failed",
                message=f"invocation {invocation.name} ended {state}",
            )
        )
    failing = [n for n in nodes if n.status in ("failed", "cancelled")]
    return TransformResult(
        tool="dataform",
        success=not failing,
        nodes=tuple(nodes),
        rows_written=sum_rows(nodes),
        seconds=clock() - started,
        error=describe_failure("dataform", nodes) if failing else None,
        transient=is_transient(nodes, timed_out=timed_out),
    )


def _state_name(message: Any) -> str:
    state = message.state
    return str(getattr(state, "name", state))


def _target_key(target: Any) -> tuple[str, str, str]:
    return (target.database, target.schema, target.name)


def _compiled_kinds(actions: Iterable[Any]) -> dict[tuple[str, str, str], NodeKind]:
    kinds: dict[tuple[str, str, str], NodeKind] = {}
    for action in actions:
        for field, kind in (
            ("relation", "model"),
            ("assertion", "assertion"),
            ("operations", "operation"),
        ):
            if _has(action, field):
                kinds[_target_key(action.target)] = kind  # type: ignore[assignment]
    return kinds


def _has(message: Any, field: str) -> bool:
    """Whether a proto-plus message has the oneof `field` set (fakes may use plain objects)."""
    pb = getattr(type(message), "pb", None)
    if pb is not None:
        return bool(pb(message).HasField(field))
    return getattr(message, field, None) is not None


def _resolve_actions(
    names: list[str], kinds: dict[tuple[str, str, str], NodeKind], repository: str
) -> list[tuple[str, str, str]]:
    resolved = []
    for name in names:
        matches = [key for key in kinds if name in (key[2], f"{key[1]}.{key[2]}", ".".join(key))]
        if len(matches) != 1:
            expected = ", ".join(sorted(k[2] for k in kinds))
            raise TransformError(
                f"Dataform action {name!r} {'is ambiguous' if matches else 'is not'} in "
                f"repository {repository} (expected one of: {expected})"
            )
        resolved.append(matches[0])
    return resolved


def _interval_seconds(timing: Any) -> float | None:
    """Seconds of a `google.type.Interval`; None unless both ends are set."""
    if timing is None or not (timing.HasField("start_time") and timing.HasField("end_time")):
        return None
    start: datetime = timing.start_time.ToDatetime()
    end: datetime = timing.end_time.ToDatetime()
    return round((end - start).total_seconds(), 3)


def _node(action: Any, kinds: dict[tuple[str, str, str], NodeKind]) -> NodeResult:
    kind = kinds.get(_target_key(action.target), "model")
    status = _ACTION_STATES.get(_state_name(action), "failed")
    message = action.failure_reason or None
    seconds = _interval_seconds(action.invocation_timing)
    job_id = getattr(getattr(action, "bigquery_action", None), "job_id", "")
    failures = None
    if kind == "assertion" and status == "failed" and (match := _ROW_COUNT.search(message or "")):
        failures = int(match[1])
    return NodeResult(
        name=action.target.name,
        kind=kind,
        status=status,
        failures=failures,
        seconds=seconds,
        message=message,
        bigquery_job_ids=(job_id,) if job_id else (),
    )
