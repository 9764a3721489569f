"""Conformance: `for` loops over number ranges, bounds computed by an expression.

Page followed: https://cloud.google.com/workflows/docs/reference/syntax/iteration
("for loops for number ranges": `range: ${[BEGIN_EXPRESSION, END_EXPRESSION]}`, both ends
inclusive). The page shows the range as one expression yielding a two-element list; any
expression that yields such a list is accepted, and anything else is a TypeError (the docs
name no error for it, so the engine fails the execution rather than guessing).
"""

from __future__ import annotations

from typing import Any

import pytest

from dayflow.workflows_engine import WorkflowEngine

LOOP = """
main:
  params: [args]
  steps:
    - init:
        assign:
          - seen: []
    - loop:
        for:
          value: v
          range: RANGE
          steps:
            - add:
                assign:
                  - seen: ${list.concat(seen, v)}
    - done:
        return: ${seen}
"""


def _run(engine: WorkflowEngine, range_source: str, args: Any = None) -> Any:
    engine.deploy("ranges", LOOP.replace("RANGE", range_source))
    return engine.run("ranges", args if args is not None else {})


@pytest.mark.parametrize(
    ("range_source", "args", "expected"),
    [
        ("${[1, 3]}", {}, [1, 2, 3]),  # the page's form, constant bounds
        ("${[args.a, args.b]}", {"a": 2, "b": 4}, [2, 3, 4]),  # bounds from variables
        ("${args.bounds}", {"bounds": [0, 2]}, [0, 1, 2]),  # any expression yielding a list
        ("${list.concat([5], 6)}", {}, [5, 6]),  # a function result
        ("[1, '${args.b}']", {"b": 2}, [1, 2]),  # the literal list form still works
        ("${[1.5, 3]}", {}, [1.5, 2.5]),  # double bounds step by 1 up to the end
    ],
)
def test_range_accepts_any_expression_yielding_two_numbers(
    engine: WorkflowEngine, range_source: str, args: Any, expected: list[Any]
) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/iteration
    execution = _run(engine, range_source, args)
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == expected


@pytest.mark.parametrize(
    ("range_source", "args"),
    [
        ("${[1, 2, 3]}", {}),  # three elements
        ("${args.bounds}", {"bounds": "1..3"}),  # not a list
        ("${[1, args.end]}", {"end": "3"}),  # a bound that is not a number
    ],
)
def test_range_expression_not_yielding_two_numbers_raises_type_error(
    engine: WorkflowEngine, range_source: str, args: Any
) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/iteration: the range is
    # [BEGIN, END]; the docs are silent on the error for other values: TypeError here.
    execution = _run(engine, range_source, args)
    assert execution.state == "FAILED"
    assert execution.error_tags == ["TypeError"]


def test_parallel_for_takes_a_computed_range(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/parallel-steps: a parallel
    # `for` takes the same `range` as a sequential one.
    engine.deploy(
        "pranges",
        """
main:
  params: [args]
  steps:
    - init:
        assign:
          - total: 0
    - loop:
        parallel:
          shared: [total]
          for:
            value: v
            range: ${[1, args.n]}
            steps:
              - add:
                  assign:
                    - total: ${total + v}
    - done:
        return: ${total}
""",
    )
    execution = engine.run("pranges", {"n": 4})
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == 10
