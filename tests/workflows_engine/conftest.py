"""Fixtures: an engine on a fake clock, and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from dayflow.workflows_engine import FakeClock, Limits, WorkflowEngine


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def http_client() -> Iterator[httpx.Client]:
    """One client for the session (building its TLS context costs tens of ms)."""
    with httpx.Client() as client:
        yield client


@pytest.fixture
def engine(clock: FakeClock, http_client: httpx.Client) -> Iterator[WorkflowEngine]:
    engine = WorkflowEngine(clock=clock, http_client=http_client, env={"STAGE": "test"})
    yield engine
    engine.close()


@pytest.fixture
def make_engine(
    clock: FakeClock, http_client: httpx.Client
) -> Iterator[Callable[..., WorkflowEngine]]:
    """Engines with custom limits (closed at teardown)."""
    engines: list[WorkflowEngine] = []
    client = http_client

    def make(limits: Limits | None = None, **kwargs: Any) -> WorkflowEngine:
        engine = WorkflowEngine(clock=clock, http_client=client, limits=limits, **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@dataclass
class ServerState:
    """What the test HTTP server saw, and scripted answers per path."""

    in_flight: int = 0
    max_in_flight: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    # path -> list of (status, body, content type); the last one repeats.
    scripts: dict[str, list[tuple[int, Any, str]]] = field(default_factory=dict)
    # /slow holds each request until this many are in flight (or 3 s pass), so the
    # observed maximum reaches the engine's concurrency limit deterministically.
    hold_until: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)


class _Handler(BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        state = self.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            state.lock.notify_all()
            state.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body,
                }
            )
            script = state.scripts.get(path)
            answer = (script.pop(0) if len(script) > 1 else script[0]) if script else None
        try:
            if path == "/slow":
                with state.lock:
                    state.lock.wait_for(lambda: state.in_flight >= state.hold_until, timeout=3)
                time.sleep(0.005)
                answer = (200, {"ok": True}, "application/json")
            if path == "/echo":
                answer = (
                    200,
                    {
                        "method": self.command,
                        "path": self.path,
                        "body": body.decode(),
                        "content_type": self.headers.get("Content-Type"),
                    },
                    "application/json",
                )
            if path == "/big":
                answer = (200, "x" * 3000, "text/plain")
            status, payload, content_type = answer or (
                404,
                {"error": "no route"},
                "application/json",
            )
            data = (
                json.dumps(payload).encode()
                if content_type == "application/json"
                else payload.encode()
                if isinstance(payload, str)
                else payload
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        finally:
            with state.lock:
                state.in_flight -= 1

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


@dataclass
class LocalServer:
    url: str
    state: ServerState


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    state = ServerState()
    handler = type("Handler", (_Handler,), {"state": state})
    # Clients that gave up (timeout tests) leave broken pipes: not worth a traceback.
    quiet = {"request_queue_size": 128, "handle_error": lambda self, request, address: None}
    server_class = type("Server", (ThreadingHTTPServer,), quiet)
    server = server_class(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield LocalServer(f"http://127.0.0.1:{server.server_address[1]}", state)
    server.shutdown()
    server.server_close()
