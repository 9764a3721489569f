"""The request's trace id (from `traceparent` or `X-Cloud-Trace-Context`) on every log line
written while it is served, runs it starts included (see dayflow.logs)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from dayflow.logs import bind_trace_id, get_trace_id, reset_trace_id


class TraceMiddleware:
    """Bind the request's trace id for the time the request is served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = bind_trace_id(get_trace_id(Headers(scope=scope)))
        try:
            await self.app(scope, receive, send)
        finally:
            reset_trace_id(token)
