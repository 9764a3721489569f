"""Errors of the local Workflows engine.

Two families, kept apart on purpose:

* `WorkflowError` is an error *inside* a running workflow. It carries the Workflows error
  value (`payload`), usually a map with a `tags` list and a `message`, exactly as a
  `try`/`except` block or the Executions API would see it.
* `WorkflowDefinitionError` is raised while loading a workflow source (Workflows reports
  these at deploy time): bad YAML, unknown keys, unsupported syntax, static limits.
"""

from __future__ import annotations

from typing import Any

# Error tags documented by Google (reference/syntax/error-types).
AUTH_ERROR = "AuthError"
CONNECTION_ERROR = "ConnectionError"
CONNECTION_FAILED_ERROR = "ConnectionFailedError"
HTTP_ERROR = "HttpError"
INDEX_ERROR = "IndexError"
KEY_ERROR = "KeyError"
OPERATION_ERROR = "OperationError"
PARALLEL_NESTING_ERROR = "ParallelNestingError"
RECURSION_ERROR = "RecursionError"
RESOURCE_LIMIT_ERROR = "ResourceLimitError"
RESPONSE_TYPE_ERROR = "ResponseTypeError"
SYSTEM_ERROR = "SystemError"
TIMEOUT_ERROR = "TimeoutError"
TYPE_ERROR = "TypeError"
UNHANDLED_BRANCH_ERROR = "UnhandledBranchError"
VALUE_ERROR = "ValueError"
ZERO_DIVISION_ERROR = "ZeroDivisionError"


class WorkflowError(Exception):
    """An error raised inside a workflow execution (catchable with `try`/`except`).

    Attributes:
        payload: the Workflows error value: a map with `tags` and `message` for built-in
            errors, or whatever a `raise` step raised (a string, a map, ...).
    """

    def __init__(self, payload: Any) -> None:
        super().__init__(payload)
        self.payload = payload

    @property
    def tags(self) -> list[str]:
        """The error's tags (empty when the payload is not a map with a tag list)."""
        if isinstance(self.payload, dict):
            tags = self.payload.get("tags")
            if isinstance(tags, list):
                return [t for t in tags if isinstance(t, str)]
        return []

    def __str__(self) -> str:
        if isinstance(self.payload, dict) and isinstance(self.payload.get("message"), str):
            tags = ",".join(self.tags)
            return f"[{tags}] {self.payload['message']}" if tags else str(self.payload["message"])
        return repr(self.payload)


def workflow_error(tag: str | list[str], message: str, **fields: Any) -> WorkflowError:
    """Build a `WorkflowError` with a Workflows error map `{message, tags, **fields}`."""
    tags = [tag] if isinstance(tag, str) else list(tag)
    return WorkflowError({"message": message, "tags": tags, **fields})


class WorkflowDefinitionError(ValueError):
    """A workflow source that Workflows would refuse at deploy time."""


class UnsupportedSyntaxError(WorkflowDefinitionError):
    """Valid Workflows syntax that this local engine does not implement."""


class ExecutionCancelled(BaseException):
    """Raised inside an execution's threads once the execution has been cancelled.

    Derives from BaseException so that no `except WorkflowError` path can swallow it.
    """


class UnknownWorkflowError(LookupError):
    """A workflow id or execution id that the engine does not know."""
