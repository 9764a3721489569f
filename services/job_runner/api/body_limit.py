"""Request bodies larger than a cap get 413 before they are read into memory."""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    """Refuse a declared `Content-Length` over the cap at once; stop a streamed (chunked) body
    as soon as it passes the cap. `get_max_bytes` is called per request (settings are read on
    the first request, never at import)."""

    def __init__(self, app: ASGIApp, get_max_bytes: Callable[[], int]) -> None:
        self.app = app
        self.get_max_bytes = get_max_bytes

    @staticmethod
    def _too_large(max_bytes: int) -> HTTPException:
        return HTTPException(
            413, f"request body is larger than {max_bytes} bytes (expected at most that)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.get_max_bytes()
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            from job_runner.errors import error_response

            err = self._too_large(max_bytes)
            response = error_response(Request(scope), 413, str(err.detail), "permanent")
            await response(scope, receive, send)
            return
        received = 0

        async def receive_with_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body, so the
                    # error handlers turn it into the usual JSON error.
                    raise self._too_large(max_bytes)
            return message

        await self.app(scope, receive_with_limit, send)
