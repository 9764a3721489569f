"""The one place that maps errors to HTTP responses. Every error is JSON `ErrorPublic`:
`{detail, error_kind, request_id}`, and the request id is also the `X-Request-ID` header.

- a body that is not JSON: 400
- unknown pipeline, job, backfill or route: 404; a method a route does not have: 405
- a body over the size cap: 413
- bad input (partition key, range, body): 422, one line naming the value and what was expected
  (quoted input is truncated, so a 20 MB value is never echoed back)
- a permanent BigQuery error: 422 with `error_kind: permanent` (never retried by callers)
- a run whose upstream partitions (other pipelines) have not all succeeded: 409 with
  `error_kind: waiting`, `run_id`, `missing` and `retry_after` (also Retry-After): not a failure
  (job_runner.domain.upstream); past its wait deadline: 422 permanent
- a transient BigQuery error (5xx, 429, aborted transaction) or Workflows unavailable: 503 with
  Retry-After
- anything else: 500 `error_kind: internal` with a fixed message; the error is logged with the
  request id, and nothing of it reaches the caller
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dayflow.errors import (
    NotFoundError,
    UnavailableError,
    UpstreamNotReadyError,
    UpstreamTimeoutError,
    UserError,
    WarehouseError,
)
from job_runner.api.request_id import REQUEST_ID_HEADER, get_request_id

logger = logging.getLogger("job_runner.errors")

# Longest detail, and longest quoted input within it, that an error response carries.
MAX_DETAIL_CHARS = 2000
MAX_QUOTED_CHARS = 100
# Addresses of the services we call (the emulator, Google APIs) never reach a caller.
_URL = re.compile(r"https?://\S+")


def error_response(
    request: Request,
    status_code: int,
    detail: str,
    kind: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """An `ErrorPublic` response carrying the request's id (body and header), with `extra`
    fields (a waiting run's `WaitingPublic`)."""
    request_id = get_request_id(request.scope)
    detail = _URL.sub("<url>", detail)
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[:MAX_DETAIL_CHARS] + "... (truncated)"
    return JSONResponse(
        {"detail": detail, "error_kind": kind, "request_id": request_id, **(extra or {})},
        status_code=status_code,
        headers={**(headers or {}), REQUEST_ID_HEADER: request_id},
    )


def _quote(value: Any) -> str:
    text = repr(value)
    if len(text) > MAX_QUOTED_CHARS:
        text = f"{text[:MAX_QUOTED_CHARS]}... ({len(text)} chars)"
    return text


async def _not_found(request: Request, err: Exception) -> JSONResponse:
    return error_response(request, 404, str(err), "permanent")


async def _user_error(request: Request, err: Exception) -> JSONResponse:
    return error_response(request, 422, str(err), "permanent")


async def _warehouse_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, WarehouseError)
    if err.transient:
        return error_response(request, 503, str(err), "transient", {"Retry-After": "5"})
    return error_response(request, 422, str(err), "permanent")


async def _upstream_not_ready(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, UpstreamNotReadyError)
    return error_response(
        request,
        409,
        str(err),
        "waiting",
        {"Retry-After": str(err.retry_after or 60)},
        {"run_id": err.run_id, "missing": err.missing, "retry_after": err.retry_after},
    )


async def _unavailable(request: Request, err: Exception) -> JSONResponse:
    return error_response(request, 503, str(err), "transient", {"Retry-After": "5"})


async def _validation_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RequestValidationError)
    errors = err.errors()
    if any(e["type"] == "json_invalid" for e in errors):
        return error_response(request, 400, "request body is not valid JSON", "permanent")
    lines = []
    for e in errors:
        loc = ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path", "header"))
        got = e.get("input")
        suffix = f" (got {_quote(got)})" if isinstance(got, str | int | float) else ""
        lines.append(f"{loc or 'body'}: {e['msg']}{suffix}")
    return error_response(request, 422, "; ".join(lines), "permanent")


async def _http_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, StarletteHTTPException)
    detail = err.detail if isinstance(err.detail, str) else "request failed"
    if err.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.url.path[:MAX_QUOTED_CHARS]!r} (see /docs)"
    headers = dict(err.headers or {})
    if err.status_code == 405:
        detail = f"method {request.method} is not allowed on {request.url.path[:100]!r}"
        # Starlette names the methods of the first route on the path only (GET /runs and
        # POST /runs are two routes): Allow lists them all (RFC 9110 section 10.2.1).
        headers["Allow"] = ", ".join(_allowed_methods(request))
    kind = "transient" if err.status_code >= 500 else "permanent"
    return error_response(request, err.status_code, detail, kind, headers)


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        route_methods = getattr(route, "methods", None)
        if match != Match.NONE and route_methods:
            methods |= set(route_methods)
    return sorted(methods)


async def _unexpected(request: Request, err: Exception) -> JSONResponse:
    request_id = get_request_id(request.scope)
    logger.error(
        "request %s %s %s failed unexpectedly",
        request_id,
        request.method,
        request.url.path,
        exc_info=err,
    )
    return error_response(
        request,
        500,
        f"internal error (request id {request_id}; the job-runner's log has the details)",
        "internal",
    )


class UnexpectedErrorMiddleware:
    """Answer an unexpected exception with the 500 `ErrorPublic` and log it, without re-raising
    it: Starlette's own last-resort handler re-raises, and the server then drops the keep-alive
    connection under the client's next request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as err:
            if started:
                raise
            response = await _unexpected(Request(scope), err)
            await response(scope, receive, send)


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(WarehouseError, _warehouse_error)
    app.add_exception_handler(UnavailableError, _unavailable)
    app.add_exception_handler(UpstreamNotReadyError, _upstream_not_ready)
    app.add_exception_handler(UpstreamTimeoutError, _user_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
