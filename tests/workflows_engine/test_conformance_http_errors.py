"""Conformance: the error tags of failed `http.*` calls.

Page followed: https://cloud.google.com/workflows/docs/reference/syntax/error-types
* ConnectionFailedError: "a connection is not established with the API endpoint; for
  example, due to an incorrect domain name, DNS resolution issues, or other network
  problems. Retries are idempotent."
* ConnectionError: "a connection is successfully established with the endpoint but there
  is a problem with the connection during data transfer. The connection is terminated
  before a full response is received".
* TimeoutError: the request did not complete within its `timeout`
  (https://cloud.google.com/workflows/docs/reference/stdlib/http/request, `timeout`).
Each failure carries exactly its documented tag: the docs never give a refused connection
both tags, and a workflow testing `'ConnectionError' in e.tags` for one would pass locally
and fail in GCP. All servers here are real sockets on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from dayflow.workflows_engine import WorkflowEngine

GET = """
main:
  params: [args]
  steps:
    - fetch:
        call: http.get
        args:
          url: ${args.url}
          timeout: ${default(map.get(args, "timeout"), 30)}
        result: response
    - done:
        return: ${response.code}
"""


def _failed_tags(engine: WorkflowEngine, args: dict[str, object]) -> list[str]:
    engine.deploy("get", GET)
    execution = engine.run("get", args)
    assert execution.state == "FAILED", execution.result
    return execution.error_tags


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listening socket that never answers: the connection is made, no response comes."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)  # the kernel completes the handshake; nobody ever accepts
        yield int(sock.getsockname()[1])


@pytest.fixture
def cut_port() -> Iterator[int]:
    """A server that promises 100 bytes, sends 3, then closes the connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    server.close()
    thread.join(timeout=5)


def test_refused_connection_raises_connection_failed_error(engine: WorkflowEngine) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])  # bound, not listening: connections are refused
        tags = _failed_tags(engine, {"url": f"http://127.0.0.1:{port}/x"})
    assert tags == ["ConnectionFailedError"]


def test_dns_failure_raises_connection_failed_error(engine: WorkflowEngine) -> None:
    # `.invalid` never resolves (RFC 6761), so no connection is ever established.
    tags = _failed_tags(engine, {"url": "http://dayflow-conformance.invalid/x"})
    assert tags == ["ConnectionFailedError"]


def test_transfer_cut_after_connecting_raises_connection_error(
    engine: WorkflowEngine, cut_port: int
) -> None:
    tags = _failed_tags(engine, {"url": f"http://127.0.0.1:{cut_port}/x"})
    assert tags == ["ConnectionError"]


def test_no_response_within_timeout_raises_timeout_error(
    engine: WorkflowEngine, silent_port: int
) -> None:
    # The timeout is a lower bound on the wait, so a busy machine cannot make this flaky.
    tags = _failed_tags(engine, {"url": f"http://127.0.0.1:{silent_port}/x", "timeout": 0.2})
    assert tags == ["TimeoutError"]


def test_except_block_tells_the_documented_tags_apart(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/error-types: check a tag
    # with `${'ConnectionFailedError' in e.tags}`.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        engine.deploy(
            "classify",
            """
main:
  params: [args]
  steps:
    - fetch:
        try:
          call: http.get
          args:
            url: ${args.url}
        except:
          as: e
          steps:
            - classify:
                return: ${["ConnectionFailedError" in e.tags, "ConnectionError" in e.tags]}
""",
        )
        execution = engine.run("classify", {"url": f"http://127.0.0.1:{port}/x"})
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == [True, False]
