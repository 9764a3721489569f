"""A fake of the managed Dataform API at its network boundary.

It satisfies `dayflow.transforms.dataform_managed.DataformApi` (the subset of
`google.cloud.dataform_v1.DataformClient` dayflow calls) and answers with the real
`dataform_v1` message types, so the code under test reads the same objects as in GCP.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from google.cloud.dataform_v1 import types
from google.protobuf import timestamp_pb2
from google.type import interval_pb2

ActionKind = Literal["relation", "assertion", "operations"]
ActionState = types.WorkflowInvocationAction.State


@dataclass
class ScriptedAction:
    """An action of the fake repository and how its invocation ends."""

    name: str
    kind: ActionKind = "relation"
    state: str = "SUCCEEDED"
    failure_reason: str = ""
    schema: str = "mart"


@dataclass
class FakeDataform:
    """Compiles to `actions`; an invocation ends after `polls_until_done` polls (never if None).

    With 0, a new invocation has already ended, as a fast one does by the time it is read back.
    """

    actions: list[ScriptedAction]
    compilation_errors: list[tuple[str, str]] = field(default_factory=list)
    polls_until_done: int | None = 0
    project: str = "acme-shop-prod"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    compilations: list[types.CompilationResult] = field(default_factory=list)
    invocations: list[types.WorkflowInvocation] = field(default_factory=list)
    polls: int = 0
    cancelled: bool = False

    def create_compilation_result(
        self, *, parent: str, compilation_result: Any, timeout: float
    ) -> types.CompilationResult:
        self.calls.append(("create_compilation_result", {"parent": parent, "timeout": timeout}))
        result = types.CompilationResult(compilation_result)
        result.name = f"{parent}/compilationResults/c{len(self.compilations) + 1}"
        result.compilation_errors = [
            types.CompilationResult.CompilationError(path=path, message=message)
            for path, message in self.compilation_errors
        ]
        self.compilations.append(result)
        return result

    def query_compilation_result_actions(
        self, *, request: dict[str, Any], timeout: float
    ) -> Iterable[types.CompilationResultAction]:
        self.calls.append(("query_compilation_result_actions", dict(request)))
        return [
            types.CompilationResultAction(
                target=self._target(a),
                **{a.kind: getattr(types.CompilationResultAction, _MESSAGES[a.kind])()},
            )
            for a in self.actions
        ]

    def create_workflow_invocation(
        self, *, parent: str, workflow_invocation: Any, timeout: float
    ) -> types.WorkflowInvocation:
        self.calls.append(("create_workflow_invocation", {"parent": parent}))
        invocation = types.WorkflowInvocation(workflow_invocation)
        invocation.name = f"{parent}/workflowInvocations/w{len(self.invocations) + 1}"
        self.invocations.append(invocation)
        invocation.state = self._state()
        return invocation

    def get_workflow_invocation(self, *, name: str, timeout: float) -> types.WorkflowInvocation:
        self.calls.append(("get_workflow_invocation", {"name": name}))
        self.polls += 1
        invocation = types.WorkflowInvocation(self.invocations[-1])
        invocation.state = self._state()
        return invocation

    def query_workflow_invocation_actions(
        self, *, request: dict[str, Any], timeout: float
    ) -> Iterable[types.WorkflowInvocationAction]:
        self.calls.append(("query_workflow_invocation_actions", dict(request)))
        done = self._state() != types.WorkflowInvocation.State.RUNNING and not self.cancelled
        return [
            types.WorkflowInvocationAction(
                target=self._target(a),
                state=ActionState[a.state] if done else ActionState.CANCELLED,
                failure_reason=a.failure_reason if done else "",
                invocation_timing=interval_pb2.Interval(
                    start_time=timestamp_pb2.Timestamp(seconds=1_700_000_000 + i),
                    end_time=timestamp_pb2.Timestamp(seconds=1_700_000_001 + i, nanos=500_000_000),
                ),
                bigquery_action=types.WorkflowInvocationAction.BigQueryAction(job_id=f"job-{i}"),
            )
            for i, a in enumerate(self.actions)
        ]

    def cancel_workflow_invocation(self, *, request: dict[str, Any], timeout: float) -> Any:
        self.calls.append(("cancel_workflow_invocation", dict(request)))
        self.cancelled = True
        return types.CancelWorkflowInvocationResponse()

    def _state(self) -> types.WorkflowInvocation.State:
        states = types.WorkflowInvocation.State
        if self.cancelled:
            return states.CANCELLED
        if self.polls_until_done is None or self.polls < self.polls_until_done:
            return states.RUNNING
        failed = any(a.state == "FAILED" for a in self.actions)
        return states.FAILED if failed else states.SUCCEEDED

    def _target(self, action: ScriptedAction) -> types.Target:
        return types.Target(database=self.project, schema=action.schema, name=action.name)


_MESSAGES = {"relation": "Relation", "assertion": "Assertion", "operations": "Operations"}
