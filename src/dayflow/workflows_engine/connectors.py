"""The Workflow Executions connector, mapped onto the local engine's workflow registry.

* `...executions.run` starts a child execution of a named workflow, waits for it, returns
  its result and raises `OperationError` (carrying the child execution) when it fails.
* `...executions.create` starts a child execution and, like the real connector (a
  long-running operation it polls), waits for it to finish before returning the execution
  resource; with `connector_params: {skip_polling: true}` it returns at once. `run` with
  `skip_polling` returns null without waiting.
* `...executions.get` returns an execution resource by name.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from .errors import TYPE_ERROR, VALUE_ERROR, workflow_error
from .library import Runtime, register
from .values import to_json

PREFIX = "googleapis.workflowexecutions.v1.projects.locations.workflows.executions"
_PARENT = re.compile(r"projects/[^/]+/locations/[^/]+/workflows/(?P<workflow>[^/]+)")
_NAME = re.compile(
    r"projects/[^/]+/locations/[^/]+/workflows/(?P<workflow>[^/]+)/executions/(?P<execution>[^/]+)"
)


class ChildExecutions(Protocol):
    """How a running execution starts and reads other executions of the engine."""

    def run_child(self, workflow_id: str, argument: Any) -> Any:
        """Run a child execution to completion; return its result or raise WorkflowError."""
        ...

    def create_child(
        self, workflow_id: str, argument_json: str | None, wait: bool
    ) -> dict[str, Any]:
        """Start a child execution (and wait for it when `wait`); return its Execution
        resource in the REST JSON shape."""
        ...

    def get_resource(self, workflow_id: str, execution_id: str) -> dict[str, Any]:
        """The Execution resource of an existing execution."""
        ...


def _skip_polling(connector_params: Any) -> bool:
    if connector_params is None:
        return False
    if not isinstance(connector_params, dict):
        raise workflow_error(TYPE_ERROR, "connector_params must be a map")
    return connector_params.get("skip_polling") is True


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise workflow_error(TYPE_ERROR, f"{name} must be a non-empty string, got {value!r}")
    return value


@register(
    f"{PREFIX}.run",
    "workflow_id",
    "argument",
    "location",
    "project_id",
    "connector_params",
    defaults=(None, None, None, None),
    blocking=True,
)
def _run(
    rt: Runtime,
    workflow_id: Any,
    argument: Any,
    location: Any,
    project_id: Any,
    connector_params: Any,
) -> Any:
    name = _string("workflow_id", workflow_id)
    match = _PARENT.fullmatch(name)
    child = match.group("workflow") if match else name
    if _skip_polling(connector_params):
        argument_json = None if argument is None else to_json(argument, what="argument")
        rt.children.create_child(child, argument_json, wait=False)
        return None
    return rt.children.run_child(child, argument)


@register(
    f"{PREFIX}.create",
    "parent",
    "body",
    "connector_params",
    defaults=(None, None),
    blocking=True,
)
def _create(rt: Runtime, parent: Any, body: Any, connector_params: Any) -> dict[str, Any]:
    match = _PARENT.fullmatch(_string("parent", parent))
    if match is None:
        raise workflow_error(
            VALUE_ERROR,
            f"parent {parent!r} is not projects/PROJECT/locations/LOCATION/workflows/WORKFLOW",
        )
    argument = None
    if body is not None:
        if not isinstance(body, dict):
            raise workflow_error(TYPE_ERROR, "body must be an Execution map")
        argument = body.get("argument")
        if argument is not None and not isinstance(argument, str):
            raise workflow_error(TYPE_ERROR, "body.argument must be a JSON string")
    wait = not _skip_polling(connector_params)
    return rt.children.create_child(match.group("workflow"), argument, wait=wait)


@register(f"{PREFIX}.get", "name", "view", defaults=(None,), blocking=True)
def _get(rt: Runtime, name: Any, view: Any) -> dict[str, Any]:
    match = _NAME.fullmatch(_string("name", name))
    if match is None:
        raise workflow_error(VALUE_ERROR, f"name {name!r} is not an execution resource name")
    return rt.children.get_resource(match.group("workflow"), match.group("execution"))
