"""Execution history that outlives the engine's process, as Cloud Workflows keeps executions
after a deploy: each execution's record is appended to a JSON Lines file when it starts and when
it ends, and an engine started on the same file lists them again.

An execution still ACTIVE in the file when the engine stopped cannot go on (its interpreter
state was in that process): it is loaded as CANCELLED, with an error saying so.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from .execution import Execution, ExecutionState, logger

STOPPED_MESSAGE = "the local Workflows engine stopped while this execution was running"


class ExecutionHistory:
    """Executions recorded in one JSON Lines file (created with its folder on first record)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, execution: Execution) -> None:
        """Append the execution's current record (the newest line of an id wins on load)."""
        line = json.dumps(_to_dict(execution), separators=(",", ":"))
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")

    def load(self) -> list[Execution]:
        """Every recorded execution, oldest first; those left ACTIVE come back CANCELLED."""
        if not self.path.is_file():
            return []
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        with self.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    data = json.loads(line)
                    newest[(data["workflow_id"], data["execution_id"])] = data
                except (ValueError, KeyError, TypeError):
                    # A line cut short by a crash mid-write: the rest of the file is still good.
                    logger.warning("%s:%d: unreadable execution record skipped", self.path, number)
        return [_from_dict(data) for data in newest.values()]


def _to_dict(execution: Execution) -> dict[str, Any]:
    return {
        "workflow_id": execution.workflow_id,
        "execution_id": execution.execution_id,
        "revision_id": execution.revision_id,
        "argument": execution.argument,
        "start_time": execution.start_time.isoformat(),
        "end_time": execution.end_time.isoformat() if execution.end_time else None,
        "labels": execution.labels,
        "state": execution.state.value,
        "result": execution.result,
        "error": execution.error,
        "error_context": execution.error_context,
        "steps": execution.steps,
    }


def _from_dict(data: dict[str, Any]) -> Execution:
    execution = Execution(
        workflow_id=data["workflow_id"],
        execution_id=data["execution_id"],
        revision_id=data["revision_id"],
        argument=data["argument"],
        start_time=datetime.fromisoformat(data["start_time"]),
        labels=dict(data.get("labels") or {}),
        state=ExecutionState(data["state"]),
        result=data.get("result"),
        error=data.get("error"),
        error_context=data.get("error_context") or "",
        end_time=datetime.fromisoformat(data["end_time"]) if data.get("end_time") else None,
        steps=int(data.get("steps") or 0),
    )
    if execution.state is ExecutionState.ACTIVE:
        execution.state = ExecutionState.CANCELLED
        execution.error = {"message": STOPPED_MESSAGE, "tags": []}
        execution.end_time = execution.end_time or execution.start_time
    execution.finished.set()
    return execution
