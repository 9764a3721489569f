"""The Workflow Executions REST API (`workflowexecutions.v1`) over a WorkflowEngine.

Routes (all under `/v1/projects/{project}/locations/{location}/workflows/{workflow}`):
`POST .../executions`, `GET .../executions`, `GET .../executions/{id}`,
`POST .../executions/{id}:cancel`. Errors use Google's JSON error shape.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from .engine import ArgumentError, WorkflowEngine
from .errors import UnknownWorkflowError
from .resources import BASIC, FULL, execution_resource

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
CANCEL_WAIT_SECONDS = 2.0
_PREFIX = "/v1/projects/{project}/locations/{location}/workflows/{workflow}/executions"


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message", "status"}}`."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


def _view(view: str | None, default: str) -> str:
    if view in (None, "", "EXECUTION_VIEW_UNSPECIFIED"):
        return default
    if view not in (BASIC, FULL):
        raise ApiError(400, "INVALID_ARGUMENT", f"view {view!r} (expected BASIC or FULL)")
    return view


def _page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError as err:
        raise ApiError(400, "INVALID_ARGUMENT", f"invalid pageToken {token!r}") from err


def create_app(engine: WorkflowEngine) -> FastAPI:
    """The REST app serving `engine` (resource names use the engine's project/location)."""
    app = FastAPI(title="dayflow local Workflow Executions API")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        body = {"error": {"code": err.code, "message": err.message, "status": err.status}}
        return JSONResponse(body, status_code=err.code)

    @app.exception_handler(UnknownWorkflowError)
    async def not_found(request: Request, err: UnknownWorkflowError) -> JSONResponse:
        return await api_error(request, ApiError(404, "NOT_FOUND", str(err)))

    @app.exception_handler(ArgumentError)
    async def bad_argument(request: Request, err: ArgumentError) -> JSONResponse:
        return await api_error(request, ApiError(400, "INVALID_ARGUMENT", str(err)))

    def resource(execution: Any, view: str) -> dict[str, Any]:
        return execution_resource(execution, engine.project, engine.location, view)

    @app.post(_PREFIX)
    def create_execution(
        workflow: str, body: Annotated[dict[str, Any] | None, Body()] = None
    ) -> dict[str, Any]:
        body = body or {}
        argument = body.get("argument")
        if argument is not None and not isinstance(argument, str):
            raise ApiError(400, "INVALID_ARGUMENT", "argument must be a JSON-encoded string")
        labels = body.get("labels") or {}
        execution = engine.start_execution(workflow, argument_json=argument, labels=labels)
        return resource(execution, FULL)

    @app.get(_PREFIX)
    def list_executions(
        workflow: str,
        page_size: Annotated[int | None, Query(alias="pageSize")] = None,
        page_token: Annotated[str | None, Query(alias="pageToken")] = None,
        view: str | None = None,
    ) -> dict[str, Any]:
        size = DEFAULT_PAGE_SIZE if not page_size else min(page_size, MAX_PAGE_SIZE)
        if size < 0:
            raise ApiError(400, "INVALID_ARGUMENT", f"pageSize must be >= 0, got {page_size}")
        offset = _page_token(page_token)
        executions = engine.list_executions(workflow)
        page = executions[offset : offset + size]
        chosen = _view(view, BASIC)
        body: dict[str, Any] = {"executions": [resource(e, chosen) for e in page]}
        if offset + size < len(executions):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return body

    @app.get(_PREFIX + "/{execution_id}")
    def get_execution(workflow: str, execution_id: str, view: str | None = None) -> dict[str, Any]:
        return resource(engine.get_execution(workflow, execution_id), _view(view, FULL))

    @app.post(_PREFIX + "/{execution_id}:cancel")
    def cancel_execution(workflow: str, execution_id: str) -> dict[str, Any]:
        execution = engine.get_execution(workflow, execution_id)
        if execution.done:
            raise ApiError(
                400, "FAILED_PRECONDITION", f"execution is {execution.state.value}, not ACTIVE"
            )
        engine.cancel_execution(workflow, execution_id)
        execution.wait(CANCEL_WAIT_SECONDS)
        return resource(execution, FULL)

    return app


def decode_json_field(value: str | None) -> Any:
    """Helper for clients: decode an `argument`/`result` JSON string field."""
    return None if value is None else json.loads(value)
