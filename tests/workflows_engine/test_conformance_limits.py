"""Conformance: size limits on strings, on a step's result, and on an execution's result.

Page followed: https://cloud.google.com/workflows/quotas ("Resource limits": variables
memory 512 KB, "the maximum cumulative size for variables, arguments, and events"; string
length 256 KB; HTTP response size 2 MB, "if saved to a variable, the variable memory limit
applies"). Error tag, for every limit: ResourceLimitError
(https://cloud.google.com/workflows/docs/reference/syntax/error-types).
The docs give no separate limit for the value an execution returns; it is held like a
variable, so the engine applies the variables-memory limit to it (fails locally rather
than in GCP). The docs do not say whether the string limit counts characters or bytes; the
engine counts UTF-8 bytes, the stricter reading. Tests lower the limits with `Limits(...)`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dayflow.workflows_engine import Limits, WorkflowEngine

from .conftest import LocalServer

KIB = 1024


def test_documented_defaults() -> None:
    # https://cloud.google.com/workflows/quotas
    limits = Limits()
    assert limits.max_string_bytes == 256 * KIB
    assert limits.max_variable_bytes == 512 * KIB
    assert limits.max_result_bytes == 512 * KIB
    assert limits.max_http_response_bytes == 2 * KIB * KIB


STRINGS = """
main:
  params: [args]
  steps:
    - grow:
        assign:
          - VALUE
    - done:
        return: ok
"""


@pytest.mark.parametrize(
    "assignment",
    [
        "s: ${args.a + args.a}",  # a string variable
        'm: {"k": "${args.a + args.a}"}',  # a string inside a map
        "l: ${[args.a + args.a]}",  # a string inside a list
    ],
)
def test_string_over_the_limit_raises_resource_limit_error(
    make_engine: Callable[..., WorkflowEngine], assignment: str
) -> None:
    # https://cloud.google.com/workflows/quotas (string length)
    engine = make_engine(Limits(max_string_bytes=100))
    engine.deploy("strings", STRINGS.replace("VALUE", assignment))
    assert engine.run("strings", {"a": "x" * 50}).state == "SUCCEEDED"  # 100 bytes fit
    execution = engine.run("strings", {"a": "x" * 51})
    assert execution.state == "FAILED"
    assert execution.error_tags == ["ResourceLimitError"]
    assert "String size limit exceeded: a string of 102 bytes" in execution.error["message"]


def test_string_limit_counts_utf8_bytes(make_engine: Callable[..., WorkflowEngine]) -> None:
    # https://cloud.google.com/workflows/quotas gives the limit in KB: bytes, not characters.
    engine = make_engine(Limits(max_string_bytes=100))
    engine.deploy("strings", STRINGS.replace("VALUE", "s: ${args.a + args.a}"))
    execution = engine.run("strings", {"a": "é" * 26})  # 52 characters, 104 bytes
    assert execution.error_tags == ["ResourceLimitError"]


def test_returned_string_over_the_limit_raises_resource_limit_error(
    make_engine: Callable[..., WorkflowEngine],
) -> None:
    # https://cloud.google.com/workflows/quotas (string length): also for a value that is
    # returned without being stored in a variable.
    engine = make_engine(Limits(max_string_bytes=100))
    engine.deploy(
        "ret", "main:\n  params: [args]\n  steps:\n    - r:\n        return: ${args.a + args.a}\n"
    )
    execution = engine.run("ret", {"a": "x" * 51})
    assert execution.error_tags == ["ResourceLimitError"]


def test_step_result_over_variables_memory_raises_resource_limit_error(
    make_engine: Callable[..., WorkflowEngine], http_server: LocalServer
) -> None:
    # https://cloud.google.com/workflows/quotas: a response saved in a variable counts
    # against variables memory. /big answers 3,000 bytes of text.
    engine = make_engine(Limits(max_variable_bytes=2000))
    engine.deploy(
        "step_result",
        """
main:
  params: [args]
  steps:
    - fetch:
        call: http.get
        args:
          url: ${args.url}
        result: response
    - done:
        return: ${response.code}
""",
    )
    execution = engine.run("step_result", {"url": f"{http_server.url}/big"})
    assert execution.error_tags == ["ResourceLimitError"]
    assert "Memory usage limit exceeded" in execution.error["message"]
    assert execution.current_step == ("main", "fetch")


def test_http_response_over_the_limit_raises_resource_limit_error(
    make_engine: Callable[..., WorkflowEngine], http_server: LocalServer
) -> None:
    # https://cloud.google.com/workflows/quotas (HTTP response size), even when the call
    # step keeps no result.
    engine = make_engine(Limits(max_http_response_bytes=1000))
    engine.deploy(
        "response",
        "main:\n  params: [args]\n  steps:\n    - fetch:\n        call: http.get\n"
        "        args:\n          url: ${args.url}\n",
    )
    execution = engine.run("response", {"url": f"{http_server.url}/big"})
    assert execution.error_tags == ["ResourceLimitError"]
    assert "HTTP response exceeded the limit of 1000 bytes" in execution.error["message"]


def test_execution_result_over_the_limit_raises_resource_limit_error(
    make_engine: Callable[..., WorkflowEngine],
) -> None:
    # Docs silent on a result limit (see module docstring): the variables-memory limit
    # applies to the returned value, whose parts each fit.
    engine = make_engine(Limits(max_result_bytes=100))
    engine.deploy(
        "result",
        "main:\n  params: [args]\n  steps:\n"
        "    - r:\n        return: ${[args.a, args.a, args.a]}\n",
    )
    assert engine.run("result", {"a": "x" * 30}).state == "SUCCEEDED"  # 100 bytes fit
    execution = engine.run("result", {"a": "x" * 31})
    assert execution.state == "FAILED"
    assert execution.error_tags == ["ResourceLimitError"]
    assert "Result size limit exceeded" in execution.error["message"]
