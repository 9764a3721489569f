"""A request id on every request: taken from a well-formed `X-Request-ID` header, else new.

It is kept in the ASGI scope (so error handlers outside the middleware still see it), echoed
in the `X-Request-ID` response header, and put in every error body and error log line.
"""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def get_request_id(scope: Scope) -> str:
    """The id of the request `scope` belongs to (set by RequestIdMiddleware)."""
    request_id = scope.get("state", {}).get("request_id")
    return request_id if isinstance(request_id, str) else "-"


class RequestIdMiddleware:
    """Assign the request id and add it to the response headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = given if _WELL_FORMED.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if REQUEST_ID_HEADER not in headers:
                    headers[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)
