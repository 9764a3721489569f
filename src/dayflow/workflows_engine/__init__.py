"""A local Cloud Workflows engine: runs the same workflow YAML that is deployed to Google.

Public API:
    WorkflowEngine: deploy workflows (`deploy`, `deploy_directory`) and run executions
        (`start_execution`, `run`, `get_execution`, `list_executions`, `cancel_execution`).
    Execution / ExecutionState: an execution's record.
    Limits: Workflows resource limits (lower them in tests).
    Clock, SystemClock, FakeClock: time sources.
    WorkflowError, WorkflowDefinitionError, UnsupportedSyntaxError: errors.
    create_app / serve (module `server`): the Executions REST API on 127.0.0.1.
"""

from .clock import Clock, FakeClock, SystemClock
from .engine import ArgumentError, WorkflowEngine
from .errors import (
    UnknownWorkflowError,
    UnsupportedSyntaxError,
    WorkflowDefinitionError,
    WorkflowError,
)
from .execution import Execution, ExecutionState
from .limits import Limits

__all__ = [
    "ArgumentError",
    "Clock",
    "Execution",
    "ExecutionState",
    "FakeClock",
    "Limits",
    "SystemClock",
    "UnknownWorkflowError",
    "UnsupportedSyntaxError",
    "WorkflowDefinitionError",
    "WorkflowEngine",
    "WorkflowError",
]
