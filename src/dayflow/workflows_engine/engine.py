"""`WorkflowEngine`: a registry of deployed workflows and their executions."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from .clock import Clock, SystemClock
from .definition import load_definition
from .errors import (
    OPERATION_ERROR,
    TYPE_ERROR,
    ExecutionCancelled,
    UnknownWorkflowError,
    WorkflowError,
    workflow_error,
)
from .execution import Execution, ExecutionRuntime, ExecutionState, logger
from .history import ExecutionHistory
from .interpreter import Interpreter
from .limits import Limits
from .model import WorkflowDefinition
from .resources import FULL, execution_resource
from .values import to_json

WORKFLOW_SUFFIX = ".workflows.yaml"
SA_DOMAIN = ".iam.gserviceaccount.com"
LOCAL_PROJECT_NUMBER = "000000000000"  # no real project locally; a placeholder of the right form


class ArgumentError(ValueError):
    """An execution argument that Workflows would refuse (bad JSON, too large)."""


class _Deployed:
    def __init__(self, definition: WorkflowDefinition, env: Mapping[str, str], revision: int):
        self.definition = definition
        self.env = dict(env)
        self.revision_id = f"{revision:06d}-{uuid.uuid4().hex[:3]}"


class WorkflowEngine:
    """Deploys workflows and runs their executions locally.

    Args:
        project: project id reported in resource names and GOOGLE_CLOUD_PROJECT_ID.
        location: location reported in resource names and GOOGLE_CLOUD_LOCATION.
        clock: time source for sys.now, sys.sleep and retry backoff.
        http_client: client for http.* calls (tests point it at 127.0.0.1 servers).
        limits: resource limits (lower them in tests).
        env: environment variables given to every workflow (per-workflow ones win).
        history: where executions are recorded, and loaded from at start (None: memory only).
    """

    def __init__(
        self,
        *,
        project: str = "local",
        location: str = "us-central1",
        clock: Clock | None = None,
        http_client: httpx.Client | None = None,
        limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
        history: ExecutionHistory | None = None,
    ) -> None:
        self.project = project
        self.location = location
        self.clock: Clock = clock or SystemClock()
        self._owns_client = http_client is None
        self.http_client = http_client or httpx.Client()
        self.limits = limits or Limits()
        self.env = dict(env or {})
        self._workflows: dict[str, _Deployed] = {}
        self._executions: dict[str, dict[str, Execution]] = {}
        self._lock = threading.Lock()
        self.history = history
        for execution in history.load() if history else []:
            self._executions.setdefault(execution.workflow_id, {})[execution.execution_id] = (
                execution
            )

    @classmethod
    def from_directory(cls, directory: str | Path, **kwargs: Any) -> WorkflowEngine:
        """An engine with every `*.workflows.yaml` of `directory` deployed."""
        engine = cls(**kwargs)
        engine.deploy_directory(directory)
        return engine

    # --- workflows -----------------------------------------------------------------------

    def deploy(
        self, workflow_id: str, source: str, *, env: Mapping[str, str] | None = None
    ) -> WorkflowDefinition:
        """Deploy (or redeploy) a workflow from its YAML/JSON source.

        Args:
            workflow_id: the workflow id, e.g. `backfill`.
            source: the workflow source text.
            env: user environment variables (Workflows `user_env_vars`).

        Raises:
            WorkflowDefinitionError: the source is invalid or uses unsupported syntax.
        """
        definition = load_definition(workflow_id, source, self.limits)
        with self._lock:
            previous = self._workflows.get(workflow_id)
            revision = 1 if previous is None else int(previous.revision_id.split("-")[0]) + 1
            self._workflows[workflow_id] = _Deployed(definition, env or {}, revision)
            self._executions.setdefault(workflow_id, {})
        return definition

    def deploy_directory(
        self, directory: str | Path, *, env: Mapping[str, Mapping[str, str]] | None = None
    ) -> list[str]:
        """Deploy every `NAME.workflows.yaml` in `directory` as workflow `NAME`.

        Args:
            directory: folder holding the workflow files.
            env: optional per-workflow env vars, keyed by workflow id.
        """
        deployed = []
        for path in sorted(Path(directory).glob(f"*{WORKFLOW_SUFFIX}")):
            workflow_id = path.name[: -len(WORKFLOW_SUFFIX)]
            self.deploy(workflow_id, path.read_text(), env=(env or {}).get(workflow_id))
            deployed.append(workflow_id)
        return deployed

    def workflow_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._workflows)

    def _deployed(self, workflow_id: str) -> _Deployed:
        with self._lock:
            deployed = self._workflows.get(workflow_id)
        if deployed is None:
            raise UnknownWorkflowError(f"workflow '{workflow_id}' is not deployed")
        return deployed

    # --- executions ----------------------------------------------------------------------

    def _create(
        self, workflow_id: str, argument: Any, argument_json: str | None, labels: Mapping[str, str]
    ) -> tuple[Execution, _Deployed]:
        deployed = self._deployed(workflow_id)
        if argument_json is None and argument is not None:
            argument_json = to_json(argument, what="execution argument")
        if argument_json is not None:
            size = len(argument_json.encode("utf-8"))
            if size > self.limits.max_argument_bytes:
                raise ArgumentError(
                    f"execution argument is {size} bytes; the limit is "
                    f"{self.limits.max_argument_bytes} bytes"
                )
            try:
                json.loads(argument_json)
            except ValueError as err:
                raise ArgumentError(f"execution argument is not valid JSON: {err}") from err
        execution = Execution(
            workflow_id=workflow_id,
            execution_id=str(uuid.uuid4()),
            revision_id=deployed.revision_id,
            argument=argument_json,
            start_time=self.clock.now(),
            labels=dict(labels),
        )
        with self._lock:
            self._executions[workflow_id][execution.execution_id] = execution
        if self.history is not None:
            self.history.record(execution)
        return execution, deployed

    def start_execution(
        self,
        workflow_id: str,
        argument: Any = None,
        *,
        argument_json: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Execution:
        """Start an execution on a background thread and return its record at once.

        Args:
            workflow_id: a deployed workflow.
            argument: the argument as a Python value (or pass `argument_json`).
            argument_json: the argument as a JSON string, as the Executions API takes it.
            labels: execution labels.

        Raises:
            UnknownWorkflowError: no such workflow.
            ArgumentError: the argument is not JSON or exceeds 32 KB.
        """
        execution, deployed = self._create(workflow_id, argument, argument_json, labels or {})
        thread = threading.Thread(
            target=self._execute,
            args=(execution, deployed),
            name=f"workflows-{workflow_id}-{execution.execution_id[:8]}",
            daemon=True,
        )
        thread.start()
        return execution

    def run(
        self,
        workflow_id: str,
        argument: Any = None,
        *,
        argument_json: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Execution:
        """Run an execution to completion on the calling thread and return its record."""
        execution, deployed = self._create(workflow_id, argument, argument_json, labels or {})
        self._execute(execution, deployed)
        return execution

    def get_execution(self, workflow_id: str, execution_id: str) -> Execution:
        self._deployed(workflow_id)
        with self._lock:
            execution = self._executions[workflow_id].get(execution_id)
        if execution is None:
            raise UnknownWorkflowError(
                f"execution '{execution_id}' of workflow '{workflow_id}' does not exist"
            )
        return execution

    def list_executions(self, workflow_id: str) -> list[Execution]:
        """Executions of a workflow, newest first."""
        self._deployed(workflow_id)
        with self._lock:
            executions = list(self._executions[workflow_id].values())
        return list(reversed(executions))  # dicts keep creation order

    def cancel_execution(self, workflow_id: str, execution_id: str) -> Execution:
        """Ask an execution to stop; it ends CANCELLED at its next step or sleep."""
        execution = self.get_execution(workflow_id, execution_id)
        if not execution.done:
            execution.cancel_requested.set()
        return execution

    def close(self) -> None:
        """Cancel active executions and close the HTTP client if the engine created it."""
        with self._lock:
            executions = [e for per in self._executions.values() for e in per.values()]
        for execution in executions:
            execution.cancel_requested.set()
        if self._owns_client:
            self.http_client.close()

    # --- running -------------------------------------------------------------------------

    def _env(self, execution: Execution, deployed: _Deployed) -> dict[str, str]:
        return {
            **self.env,
            **deployed.env,
            "GOOGLE_CLOUD_PROJECT_ID": self.project,
            "GOOGLE_CLOUD_PROJECT_NUMBER": LOCAL_PROJECT_NUMBER,
            "GOOGLE_CLOUD_SERVICE_ACCOUNT_NAME": f"workflows@{self.project}{SA_DOMAIN}",
            "GOOGLE_CLOUD_LOCATION": self.location,
            "GOOGLE_CLOUD_WORKFLOW_ID": execution.workflow_id,
            "GOOGLE_CLOUD_WORKFLOW_REVISION_ID": execution.revision_id,
            "GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID": execution.execution_id,
        }

    def _execute(self, execution: Execution, deployed: _Deployed) -> None:
        runtime = ExecutionRuntime(
            execution,
            limits=self.limits,
            clock=self.clock,
            http_client=self.http_client,
            env=self._env(execution, deployed),
            children=_Children(self, execution.cancel_requested),
        )
        interpreter = Interpreter(deployed.definition, runtime, execution)
        try:
            argument = None if execution.argument is None else json.loads(execution.argument)
            result = interpreter.run(argument)
            execution.result = to_json(result, what="workflow result")
            state = ExecutionState.SUCCEEDED
        except WorkflowError as err:
            execution.error = err.payload
            routine, step = interpreter.current
            execution.error_context = f'in step "{step}", routine "{routine}"'
            state = ExecutionState.FAILED
        except ExecutionCancelled:
            execution.error = {"message": "Execution was cancelled", "tags": []}
            state = ExecutionState.CANCELLED
        except Exception as err:  # an engine bug must not leave the execution ACTIVE
            logger.exception("engine failure in %s", execution.execution_id)
            execution.error = {"message": f"local engine failure: {err!r}", "tags": ["SystemError"]}
            state = ExecutionState.FAILED
        execution.steps = interpreter.steps
        execution.max_variable_bytes = interpreter.memory.peak
        execution.current_step = interpreter.current
        execution.end_time = self.clock.now()
        execution.state = state
        if self.history is not None:
            self.history.record(execution)
        execution.finished.set()


class _Children:
    """The workflowexecutions connector's view of the engine."""

    def __init__(self, engine: WorkflowEngine, parent_cancelled: threading.Event) -> None:
        self.engine = engine
        self.parent_cancelled = parent_cancelled

    def _resource(self, execution: Execution) -> dict[str, Any]:
        return execution_resource(execution, self.engine.project, self.engine.location, FULL)

    def _start(self, workflow_id: str, argument_json: str | None) -> Execution:
        try:
            return self.engine.start_execution(workflow_id, argument_json=argument_json)
        except UnknownWorkflowError as err:
            raise workflow_error("HttpError", str(err), code=404, headers={}, body=None) from None
        except ArgumentError as err:
            raise workflow_error(TYPE_ERROR, str(err)) from None

    def run_child(self, workflow_id: str, argument: Any) -> Any:
        argument_json = None if argument is None else to_json(argument, what="argument")
        child = self._start(workflow_id, argument_json)
        self._wait(child)
        if child.state is not ExecutionState.SUCCEEDED:
            raise workflow_error(
                OPERATION_ERROR, "Execution failed or cancelled.", operation=self._resource(child)
            )
        return child.result_value

    def _wait(self, child: Execution) -> None:
        while not child.wait(0.02):
            if self.parent_cancelled.is_set():  # cancelling the parent cancels the child
                child.cancel_requested.set()

    def create_child(
        self, workflow_id: str, argument_json: str | None, wait: bool
    ) -> dict[str, Any]:
        child = self._start(workflow_id, argument_json)
        if wait:
            self._wait(child)
        return self._resource(child)

    def get_resource(self, workflow_id: str, execution_id: str) -> dict[str, Any]:
        try:
            return self._resource(self.engine.get_execution(workflow_id, execution_id))
        except UnknownWorkflowError as err:
            raise workflow_error("HttpError", str(err), code=404, headers={}, body=None) from None
