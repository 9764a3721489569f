"""HTTP calls against a real server on 127.0.0.1, error tags, and retry backoff."""

from __future__ import annotations

import json
import socket

import pytest

from dayflow.workflows_engine import FakeClock, Limits, WorkflowEngine

from .conftest import LocalServer

GET_URL = """
main:
  params: [args]
  steps:
    - fetch:
        call: http.get
        args:
          url: ${args.url}
        result: response
    - done:
        return: ${response}
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_get_decodes_json_body(engine: WorkflowEngine, http_server: LocalServer) -> None:
    http_server.state.scripts["/item"] = [(200, {"id": 7}, "application/json")]
    engine.deploy("get", GET_URL)
    execution = engine.run("get", {"url": f"{http_server.url}/item"})
    assert execution.state == "SUCCEEDED", execution.error
    response = execution.result_value
    assert response["code"] == 200
    assert response["body"] == {"id": 7}
    assert response["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_http_error_status_raises_http_error_with_code(
    engine: WorkflowEngine, http_server: LocalServer, status: int
) -> None:
    http_server.state.scripts["/fail"] = [(status, {"reason": "nope"}, "application/json")]
    engine.deploy("get", GET_URL)
    execution = engine.run("get", {"url": f"{http_server.url}/fail"})
    assert execution.state == "FAILED"
    assert execution.error["tags"] == ["HttpError"]
    assert execution.error["code"] == status
    assert execution.error["body"] == {"reason": "nope"}
    assert execution.error["message"] == f"HTTP server responded with error code {status}"
    assert "content-type" in execution.error["headers"]


def test_http_to_closed_port_raises_connection_failed_error(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/error-types: no connection
    # established -> ConnectionFailedError (and not ConnectionError).
    engine.deploy("get", GET_URL)
    execution = engine.run("get", {"url": f"http://127.0.0.1:{_closed_port()}/x"})
    assert execution.state == "FAILED"
    assert execution.error_tags == ["ConnectionFailedError"]


def test_http_post_sends_map_body_as_json(engine: WorkflowEngine, http_server: LocalServer) -> None:
    engine.deploy(
        "post",
        """
main:
  params: [args]
  steps:
    - send:
        call: http.post
        args:
          url: ${args.url + "/echo"}
          query:
            partition_key: "2024-01-01"
          headers:
            X-Run: abc
          body:
            rows: [1, 2]
          auth:
            type: OIDC
        result: r
    - done:
        return: ${r.body}
""",
    )
    execution = engine.run("post", {"url": http_server.url})
    assert execution.state == "SUCCEEDED", execution.error
    echoed = execution.result_value
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/echo?partition_key=2024-01-01"
    assert json.loads(echoed["body"]) == {"rows": [1, 2]}
    assert echoed["content_type"] == "application/json"
    assert http_server.state.requests[0]["headers"]["X-Run"] == "abc"


def test_http_request_with_method_and_text_response(
    engine: WorkflowEngine, http_server: LocalServer
) -> None:
    http_server.state.scripts["/text"] = [(200, "plain", "text/plain")]
    engine.deploy(
        "req",
        """
main:
  params: [args]
  steps:
    - send:
        call: http.request
        args:
          method: PUT
          url: ${args.url + "/text"}
          timeout: 30
        result: r
    - done:
        return: ${r.body}
""",
    )
    assert engine.run("req", {"url": http_server.url}).result_value == "plain"


def test_http_rejects_unknown_auth_type(engine: WorkflowEngine, http_server: LocalServer) -> None:
    engine.deploy(
        "auth",
        GET_URL.replace(
            "url: ${args.url}", "url: ${args.url}\n          auth:\n            type: Basic"
        ),
    )
    execution = engine.run("auth", {"url": http_server.url})
    assert execution.error_tags == ["ValueError"]


def test_http_timeout_above_1800_seconds_is_value_error(
    engine: WorkflowEngine, http_server: LocalServer
) -> None:
    engine.deploy(
        "slow", GET_URL.replace("url: ${args.url}", "url: ${args.url}\n          timeout: 1801")
    )
    execution = engine.run("slow", {"url": http_server.url})
    assert execution.error_tags == ["ValueError"]
    assert "1800" in execution.error["message"]


def test_http_response_over_limit_raises_resource_limit_error(
    make_engine: object, http_server: LocalServer
) -> None:
    engine = make_engine(Limits(max_http_response_bytes=1000))  # type: ignore[operator]
    engine.deploy("big", GET_URL)
    execution = engine.run("big", {"url": f"{http_server.url}/big"})
    assert execution.error_tags == ["ResourceLimitError"]


RETRY_SCHEDULE = """
main:
  params: [args]
  steps:
    - fetch:
        try:
          call: http.get
          args:
            url: ${args.url}
          result: r
        retry:
          predicate: ${http.default_retry_predicate}
          max_retries: 6
          backoff:
            initial_delay: 2
            max_delay: 20
            multiplier: 3
    - done:
        return: ${r.body}
"""


def test_retry_backoff_follows_initial_delay_multiplier_and_max_delay(
    engine: WorkflowEngine, http_server: LocalServer, clock: FakeClock
) -> None:
    http_server.state.scripts["/flaky"] = [(503, "busy", "text/plain")] * 6 + [
        (200, {"ok": 1}, "application/json")
    ]
    engine.deploy("retry", RETRY_SCHEDULE)
    execution = engine.run("retry", {"url": f"{http_server.url}/flaky"})
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == {"ok": 1}
    assert clock.sleeps == [2.0, 6.0, 18.0, 20.0, 20.0, 20.0]
    # fetch (try) 1 + call 1, then 6 retry attempts of 2 steps each, then done.
    assert execution.steps == 2 + 6 * 2 + 1


def test_retry_gives_up_after_max_retries(
    engine: WorkflowEngine, http_server: LocalServer, clock: FakeClock
) -> None:
    http_server.state.scripts["/down"] = [(502, "down", "text/plain")]
    engine.deploy("retry", RETRY_SCHEDULE)
    execution = engine.run("retry", {"url": f"{http_server.url}/down"})
    assert execution.error["code"] == 502
    assert len(http_server.state.requests) == 7
    assert len(clock.sleeps) == 6


def test_default_retry_policy_uses_documented_backoff(
    engine: WorkflowEngine, http_server: LocalServer, clock: FakeClock
) -> None:
    http_server.state.scripts["/down"] = [(429, "slow down", "text/plain")]
    engine.deploy(
        "default_retry",
        """
main:
  params: [args]
  steps:
    - fetch:
        try:
          call: http.get
          args:
            url: ${args.url}
        retry: ${http.default_retry}
""",
    )
    execution = engine.run("default_retry", {"url": f"{http_server.url}/down"})
    assert execution.error["code"] == 429
    assert clock.sleeps == [1.0, 1.25, 1.5625, 1.953125, 2.44140625]


def test_default_retry_does_not_retry_404(
    engine: WorkflowEngine, http_server: LocalServer, clock: FakeClock
) -> None:
    http_server.state.scripts["/missing"] = [(404, "no", "text/plain")]
    engine.deploy(
        "default_retry",
        GET_URL.replace(
            "    - fetch:\n        call: http.get\n        args:\n          url: ${args.url}\n"
            "        result: response\n",
            "    - fetch:\n        try:\n          call: http.get\n          args:\n"
            "            url: ${args.url}\n          result: response\n"
            "        retry: ${http.default_retry}\n",
        ),
    )
    execution = engine.run("default_retry", {"url": f"{http_server.url}/missing"})
    assert execution.error["code"] == 404
    assert clock.sleeps == []


def test_non_idempotent_predicate_retries_only_429_503_and_failed_connections(
    engine: WorkflowEngine,
) -> None:
    engine.deploy(
        "predicates",
        """
main:
  steps:
    - r:
        return:
          - '${http.default_retry_predicate_non_idempotent({"tags": ["HttpError"], "code": 503})}'
          - '${http.default_retry_predicate_non_idempotent({"tags": ["HttpError"], "code": 502})}'
          - '${http.default_retry_predicate_non_idempotent({"tags": ["ConnectionError"]})}'
          - '${http.default_retry_predicate_non_idempotent({"tags": ["ConnectionFailedError"]})}'
          - '${http.default_retry_predicate({"tags": ["TimeoutError"]})}'
          - '${http.default_retry_predicate({"tags": ["HttpError"], "code": 500})}'
""",
    )
    assert engine.run("predicates").result_value == [True, False, False, True, True, False]


def test_http_timeout_raises_timeout_error(
    engine: WorkflowEngine, http_server: LocalServer
) -> None:
    http_server.state.hold_until = 99  # /slow never gets its 99 concurrent requests
    engine.deploy(
        "slow", GET_URL.replace("url: ${args.url}", "url: ${args.url}\n          timeout: 0.2")
    )
    execution = engine.run("slow", {"url": f"{http_server.url}/slow"})
    assert execution.error_tags == ["TimeoutError"]
