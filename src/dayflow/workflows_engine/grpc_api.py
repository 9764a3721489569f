"""The Workflow Executions gRPC service over a WorkflowEngine.

google-cloud-workflows (1.24) ships the Python `ExecutionsClient` with gRPC transports
only (no REST transport), so this is how the real client reaches the local engine:

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    client = ExecutionsClient(transport=ExecutionsGrpcTransport(channel=channel))

Messages are the client's own proto types; each record is converted through its REST JSON
form, so both APIs report identical resources.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc  # type: ignore[import-untyped]
from google.cloud.workflows.executions_v1 import types

from .engine import ArgumentError, WorkflowEngine
from .errors import UnknownWorkflowError
from .resources import BASIC, FULL, execution_resource
from .rest_api import CANCEL_WAIT_SECONDS, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

SERVICE = "google.cloud.workflows.executions.v1.Executions"


def _workflow_of(parent_or_name: str) -> tuple[str, str | None]:
    """(workflow id, execution id or None) from a parent or execution resource name."""
    parts = parent_or_name.split("/")
    if len(parts) >= 6 and parts[4] == "workflows":
        return parts[5], parts[7] if len(parts) >= 8 else None
    raise ValueError(f"not a workflow resource name: {parent_or_name!r}")


class _Service:
    def __init__(self, engine: WorkflowEngine) -> None:
        self.engine = engine

    def _message(self, execution: Any, view: str) -> Any:
        resource = execution_resource(execution, self.engine.project, self.engine.location, view)
        return types.Execution.from_json(json.dumps(resource), ignore_unknown_fields=True)

    def _view(self, view: Any, default: str) -> str:
        name = types.ExecutionView(view).name
        return default if name == "EXECUTION_VIEW_UNSPECIFIED" else name

    def create(self, request: Any, context: Any) -> Any:
        workflow, _ = _workflow_of(request.parent)
        execution = self.engine.start_execution(
            workflow,
            argument_json=request.execution.argument or None,
            labels=dict(request.execution.labels),
        )
        return self._message(execution, FULL)

    def get(self, request: Any, context: Any) -> Any:
        workflow, execution_id = _workflow_of(request.name)
        execution = self.engine.get_execution(workflow, execution_id or "")
        return self._message(execution, self._view(request.view, FULL))

    def list(self, request: Any, context: Any) -> Any:
        workflow, _ = _workflow_of(request.parent)
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        offset = int(request.page_token or 0)
        executions = self.engine.list_executions(workflow)
        view = self._view(request.view, BASIC)
        response = types.ListExecutionsResponse(
            executions=[self._message(e, view) for e in executions[offset : offset + size]]
        )
        if offset + size < len(executions):
            response.next_page_token = str(offset + size)
        return response

    def cancel(self, request: Any, context: Any) -> Any:
        workflow, execution_id = _workflow_of(request.name)
        execution = self.engine.get_execution(workflow, execution_id or "")
        if execution.done:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "execution is not ACTIVE")
        self.engine.cancel_execution(workflow, execution.execution_id)
        execution.wait(CANCEL_WAIT_SECONDS)
        return self._message(execution, FULL)


def _guarded(method: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def handler(request: Any, context: Any) -> Any:
        try:
            return method(request, context)
        except UnknownWorkflowError as err:
            context.abort(grpc.StatusCode.NOT_FOUND, str(err))
        except (ArgumentError, ValueError) as err:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))

    return handler


def start_grpc_server(engine: WorkflowEngine, host: str, port: int) -> tuple[Any, int]:
    """Start the gRPC service on host:port (port 0 picks one); return (server, port)."""
    service = _Service(engine)

    def unary(method: Callable[[Any, Any], Any], request_type: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            _guarded(method),
            request_deserializer=request_type.deserialize,
            response_serializer=lambda message: type(message).serialize(message),
        )

    handlers = {
        "CreateExecution": unary(service.create, types.CreateExecutionRequest),
        "GetExecution": unary(service.get, types.GetExecutionRequest),
        "ListExecutions": unary(service.list, types.ListExecutionsRequest),
        "CancelExecution": unary(service.cancel, types.CancelExecutionRequest),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind gRPC server to {host}:{port}")
    server.start()
    return server, bound
