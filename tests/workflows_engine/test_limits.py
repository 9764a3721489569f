"""Resource limits: steps, variable memory, execution argument, call depth."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dayflow.workflows_engine import ArgumentError, Limits, WorkflowEngine

LOOP_FOREVER = """
main:
  steps:
    - init:
        assign:
          - i: 0
    - again:
        assign:
          - i: ${i + 1}
        next: again
"""


def test_step_limit_raises_resource_limit_error(
    make_engine: Callable[..., WorkflowEngine],
) -> None:
    engine = make_engine(Limits(max_steps=50))
    engine.deploy("forever", LOOP_FOREVER)
    execution = engine.run("forever")
    assert execution.error_tags == ["ResourceLimitError"]
    assert "steps" in execution.error["message"]
    assert execution.steps == 51


def test_default_step_limit_is_100000(engine: WorkflowEngine) -> None:
    engine.deploy("forever", LOOP_FOREVER)
    execution = engine.run("forever")
    assert execution.error_tags == ["ResourceLimitError"]
    assert execution.steps == 100_001


GROW = """
main:
  params: [args]
  steps:
    - init:
        assign:
          - items: []
    - grow:
        for:
          value: i
          range: [1, ${args.n}]
          steps:
            - add:
                assign:
                  - items: ${list.concat(items, "0123456789")}
    - done:
        return: ${len(items)}
"""


def test_variable_memory_over_limit_raises_resource_limit_error(
    make_engine: Callable[..., WorkflowEngine],
) -> None:
    engine = make_engine(Limits(max_variable_bytes=1000))
    engine.deploy("grow", GROW.replace("${args.n}", '"${args.n}"'))
    assert engine.run("grow", {"n": 50}).state == "SUCCEEDED"  # 50 * 13 bytes fit
    execution = engine.run("grow", {"n": 100})
    assert execution.error_tags == ["ResourceLimitError"]
    assert "Memory usage limit exceeded" in execution.error["message"]


def test_default_memory_limit_is_512_kib(engine: WorkflowEngine) -> None:
    engine.deploy(
        "big",
        """
main:
  params: [args]
  steps:
    - a:
        assign:
          - parts: []
          - count: 0
    - fill:
        for:
          value: i
          range: [1, 1000]
          steps:
            - add:
                assign:
                  - parts: ${list.concat(parts, args.chunk)}
                  - count: ${count + 1}
""",
    )
    chunk = "x" * 998  # 1,000 bytes as a JSON string, 1,001 with its comma
    execution = engine.run("big", {"chunk": chunk})
    assert execution.error_tags == ["ResourceLimitError"]
    # the argument (~1 KB) and `parts` share the 524,288 bytes: about 522 chunks fit
    iterations = execution.steps - 2  # init + for, then one assign step per iteration
    assert 515 <= iterations <= 525


def test_released_scopes_free_their_memory(make_engine: Callable[..., WorkflowEngine]) -> None:
    engine = make_engine(Limits(max_variable_bytes=2000))
    engine.deploy(
        "calls",
        """
main:
  steps:
    - loop:
        for:
          value: i
          range: [1, 20]
          steps:
            - c:
                call: make_big
make_big:
  steps:
    - a:
        assign:
          - big: ${text.replace_all("xxxxxxxxxx", "x", "xxxxxxxxxxxxxxxxxxxx")}
""",
    )
    assert engine.run("calls").state == "SUCCEEDED"


def test_execution_reports_its_peak_variable_bytes(engine: WorkflowEngine) -> None:
    engine.deploy(
        "peak",
        """
main:
  steps:
    - grow:
        assign:
          - big: ${text.replace_all("xxxxxxxxxx", "x", "xxxxxxxxxx")}
    - shrink:
        assign:
          - big: "x"
    - done:
        return: ${big}
""",
    )
    execution = engine.run("peak")
    assert execution.state == "SUCCEEDED"
    # `big` held 100 characters (102 bytes as JSON) at its largest; `x` later is 3 bytes
    assert execution.max_variable_bytes == 102


def test_argument_over_32_kib_is_refused(engine: WorkflowEngine) -> None:
    engine.deploy("noop", "main:\n  params: [args]\n  steps:\n    - r:\n        return: 1\n")
    with pytest.raises(ArgumentError, match="limit is 32768 bytes"):
        engine.start_execution("noop", {"data": "x" * (32 * 1024)})
    assert engine.run("noop", {"data": "x" * 30_000}).state == "SUCCEEDED"


def test_call_stack_deeper_than_limit_raises_recursion_error(
    make_engine: Callable[..., WorkflowEngine],
) -> None:
    engine = make_engine(Limits(max_call_stack_depth=5))
    engine.deploy(
        "deep",
        """
main:
  params: [args]
  steps:
    - r:
        return: ${down(args.n)}
down:
  params: [n]
  steps:
    - base:
        switch:
          - condition: ${n == 0}
            return: 0
    - r:
        return: ${down(n - 1)}
""",
    )
    assert engine.run("deep", {"n": 3}).state == "SUCCEEDED"
    assert engine.run("deep", {"n": 4}).error_tags == ["RecursionError"]
