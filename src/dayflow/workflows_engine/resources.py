"""Execution records as `workflowexecutions.v1` Execution resources (REST JSON shape).

Field names and encodings are protobuf JSON: RFC 3339 timestamps, durations as "1.5s",
`argument`/`result`/`error.payload` as JSON strings. The engine's billed-step count is
reported in `labels["dayflow-local-steps"]` so both the REST and the gRPC clients can
read it without fields the real API lacks.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .execution import Execution, ExecutionState
from .values import to_json

STEPS_LABEL = "dayflow-local-steps"
BASIC = "BASIC"
FULL = "FULL"


def rfc3339(moment: datetime) -> str:
    """`2024-01-01T00:00:00.123456Z` (UTC, microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def execution_name(project: str, location: str, execution: Execution) -> str:
    return (
        f"projects/{project}/locations/{location}/workflows/{execution.workflow_id}"
        f"/executions/{execution.execution_id}"
    )


def _payload_json(payload: Any) -> str:
    try:
        return to_json(payload)
    except Exception:  # a payload holding bytes: report it as text
        return json.dumps(str(payload))


def execution_resource(
    execution: Execution, project: str, location: str, view: str = FULL
) -> dict[str, Any]:
    """The REST JSON of an Execution; BASIC omits argument, result, error and status."""
    resource: dict[str, Any] = {
        "name": execution_name(project, location, execution),
        "startTime": rfc3339(execution.start_time),
        "state": execution.state.value,
        "workflowRevisionId": execution.revision_id,
    }
    if execution.end_time is not None:
        resource["endTime"] = rfc3339(execution.end_time)
        seconds = (execution.end_time - execution.start_time).total_seconds()
        resource["duration"] = f"{seconds:.6f}s"
    if view == BASIC:
        return resource
    if execution.argument is not None:
        resource["argument"] = execution.argument
    if execution.state is ExecutionState.SUCCEEDED and execution.result is not None:
        resource["result"] = execution.result
    if execution.state in (ExecutionState.FAILED, ExecutionState.CANCELLED):
        resource["error"] = {
            "payload": _payload_json(execution.error),
            "context": execution.error_context,
        }
    routine, step = execution.current_step
    resource["status"] = {"currentSteps": [{"routine": routine, "step": step}] if step else []}
    resource["callLogLevel"] = "CALL_LOG_LEVEL_UNSPECIFIED"
    resource["labels"] = {**execution.labels, STEPS_LABEL: str(execution.steps)}
    return resource
