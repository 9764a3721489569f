"""One execution: its record (state, argument, result, error, steps) and its runtime."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx

from .clock import Clock, SystemClock
from .connectors import ChildExecutions
from .errors import ExecutionCancelled
from .limits import Limits

logger = logging.getLogger("dayflow.workflows_engine")


class ExecutionState(StrEnum):
    """States of the Executions API (QUEUED and UNAVAILABLE never occur locally)."""

    ACTIVE = "ACTIVE"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


@dataclass
class Execution:
    """The record of one execution, as the engine and the REST API report it.

    Attributes:
        argument: the argument as a JSON string (None when started without one).
        result: the result as a JSON string, once SUCCEEDED.
        error: the error payload (a Workflows value, usually a map), once FAILED.
        error_context: where the error happened (`in step "x", routine "main"`).
        steps: billed steps executed so far (see interpreter module docstring).
        max_variable_bytes: peak JSON size of its live variables (the quantity the 512 KB
            memory limit bounds), set when the execution ends.
        current_step: (routine, step) of the step running last.
    """

    workflow_id: str
    execution_id: str
    revision_id: str
    argument: str | None
    start_time: datetime
    labels: dict[str, str] = field(default_factory=dict)
    state: ExecutionState = ExecutionState.ACTIVE
    result: str | None = None
    error: Any = None
    error_context: str = ""
    end_time: datetime | None = None
    steps: int = 0
    max_variable_bytes: int = 0
    current_step: tuple[str, str] = ("main", "")
    logs: list[tuple[str, Any]] = field(default_factory=list)
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self.state is not ExecutionState.ACTIVE

    @property
    def result_value(self) -> Any:
        """The result decoded from JSON (None before success)."""
        return None if self.result is None else json.loads(self.result)

    @property
    def error_tags(self) -> list[str]:
        if isinstance(self.error, dict) and isinstance(self.error.get("tags"), list):
            return [t for t in self.error["tags"] if isinstance(t, str)]
        return []

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the execution finished; False on timeout."""
        return self.finished.wait(timeout)


class ExecutionRuntime:
    """What library functions see of their execution (satisfies library.Runtime)."""

    def __init__(
        self,
        execution: Execution,
        *,
        limits: Limits,
        clock: Clock,
        http_client: httpx.Client,
        env: Mapping[str, str],
        children: ChildExecutions,
    ) -> None:
        self.execution = execution
        self._limits = limits
        self._clock = clock
        self._http_client = http_client
        self._env = dict(env)
        self._children = children

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def http_client(self) -> httpx.Client:
        return self._http_client

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    @property
    def cancelled(self) -> threading.Event:
        return self.execution.cancel_requested

    @property
    def children(self) -> ChildExecutions:
        return self._children

    def now(self) -> datetime:
        return self._clock.now()

    def sleep(self, seconds: float) -> None:
        if self.cancelled.is_set():
            raise ExecutionCancelled
        if isinstance(self._clock, SystemClock):
            self._clock.sleep_interruptibly(seconds, self.cancelled)
        else:
            self._clock.sleep(seconds)
        if self.cancelled.is_set():
            raise ExecutionCancelled

    def log(self, severity: str, payload: Any) -> None:
        self.execution.logs.append((severity, payload))
        logger.info(
            "%s/%s %s: %s",
            self.execution.workflow_id,
            self.execution.execution_id,
            severity,
            payload,
        )
