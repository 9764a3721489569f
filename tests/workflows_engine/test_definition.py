"""Load-time errors: unsupported syntax and invalid definitions name the step and feature."""

from __future__ import annotations

import re

import pytest

from dayflow.workflows_engine import (
    UnsupportedSyntaxError,
    WorkflowDefinitionError,
    WorkflowEngine,
)


def test_callbacks_are_reported_as_unsupported_naming_the_step(engine: WorkflowEngine) -> None:
    source = """
main:
  steps:
    - create_callback:
        call: events.create_callback_endpoint
        args:
          http_callback_method: POST
        result: callback
"""
    with pytest.raises(
        UnsupportedSyntaxError,
        match=re.escape(
            "workflow 'cb', subworkflow 'main', step 'create_callback': callbacks and events "
            "(events.*) ('events.create_callback_endpoint') is not supported by the local engine"
        ),
    ):
        engine.deploy("cb", source)


def test_unknown_connector_is_reported_as_unsupported(engine: WorkflowEngine) -> None:
    source = """
main:
  steps:
    - query:
        call: googleapis.bigquery.v2.jobs.query
        args:
          projectId: p
"""
    with pytest.raises(
        UnsupportedSyntaxError, match=re.escape("connector 'googleapis.bigquery.v2")
    ):
        engine.deploy("bq", source)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("assign:\n          - x: 1\n        call: sys.now", "a step can hold only one of"),
        ("assign:\n          - x: 1\n        retry: 3", "unknown or misplaced key(s) ['retry']"),
        ("call: no_such_function", "unknown function 'no_such_function'"),
        ("next: nowhere", "next: 'nowhere' is not a step"),
        ("next: break", "next: break is only allowed inside a for loop"),
        ("return: ${1 +}", "unexpected end in expression '1 +'"),
        ("parallel:\n          exception_policy: failFast\n          branches: []", "failFast"),
        ("try:\n          call: sys.now", "'try' needs 'retry' or 'except'"),
        (
            "for:\n          value: v\n          steps:\n"
            "            - a:\n                next: end",
            "'for' needs exactly one of 'in' and 'range'",
        ),
    ],
)
def test_invalid_steps_are_rejected_at_load_time(
    engine: WorkflowEngine, body: str, message: str
) -> None:
    source = f"main:\n  steps:\n    - the_step:\n        {body}\n"
    with pytest.raises(WorkflowDefinitionError, match=re.escape(message)) as raised:
        engine.deploy("bad", source)
    assert "step 'the_step'" in str(raised.value) or "invalid YAML" in str(raised.value)


def test_subworkflow_call_with_missing_argument_is_rejected(engine: WorkflowEngine) -> None:
    source = """
main:
  steps:
    - c:
        call: greet
        args:
          other: 1
greet:
  params: [name]
  steps:
    - r:
        return: ${name}
"""
    with pytest.raises(WorkflowDefinitionError, match=re.escape("has no parameter(s) ['other']")):
        engine.deploy("args", source)


def test_too_many_assignments_in_one_step_is_rejected(engine: WorkflowEngine) -> None:
    assignments = "\n".join(f"          - v{i}: {i}" for i in range(51))
    source = f"main:\n  steps:\n    - a:\n        assign:\n{assignments}\n"
    with pytest.raises(WorkflowDefinitionError, match="51 assignments exceed the maximum of 50"):
        engine.deploy("many", source)


def test_source_without_main_is_rejected(engine: WorkflowEngine) -> None:
    with pytest.raises(WorkflowDefinitionError, match="no 'main' subworkflow"):
        engine.deploy("nomain", "other:\n  steps:\n    - r:\n        return: 1\n")


def test_dates_in_yaml_stay_strings(engine: WorkflowEngine) -> None:
    engine.deploy("date", "main:\n  steps:\n    - r:\n        return: 2024-01-31\n")
    assert engine.run("date").result_value == "2024-01-31"
