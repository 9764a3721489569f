"""Conformance: what Workflows refuses at deploy time (references and parallel scopes).

Pages followed:
* https://cloud.google.com/workflows/docs/reference/syntax/jumps (`next` names a step;
  "end" ends the (sub)workflow) and .../syntax/iteration ("Jumping in or out of a for
  loop ... is not allowed").
* https://cloud.google.com/workflows/docs/reference/syntax/subworkflows (`call` names a
  subworkflow or a standard library function).
* https://cloud.google.com/workflows/docs/reference/syntax/parallel-steps and the sample
  https://cloud.google.com/workflows/docs/samples/workflows-parallel-shared-variables
  (a variable first assigned in a branch "is local to this branch scope"; writing a parent
  variable not listed in `shared` is a "deployment error").
The docs do not list the exact deploy-time message; the engine's names the step and the
problem. Where they do not say whether a mistake is caught at deploy or at run time (a
branch reading a sibling's variable), the engine refuses it at deploy: it fails locally.
"""

from __future__ import annotations

import re

import pytest

from dayflow.workflows_engine import WorkflowDefinitionError, WorkflowEngine

BRANCHES = """
main:
  steps:
    - init:
        assign:
          - outer: 1
          - result: {}
    - fan_out:
        parallel:
          shared: [result]
          branches:
            - first:
                steps:
                  - make:
                      assign:
                        - mine: ${outer + 1}
                  - keep:
                      assign:
                        - result.first: ${mine}
            - second:
                steps:
                  - read:
                      assign:
                        - result.second: READ
    - done:
        return: ${result}
"""


def test_branch_reading_a_variable_only_a_sibling_defines_is_refused_at_deploy(
    engine: WorkflowEngine,
) -> None:
    # https://cloud.google.com/workflows/docs/samples/workflows-parallel-shared-variables:
    # `mine` is local to branch `first`; `second` can never see it.
    with pytest.raises(
        WorkflowDefinitionError,
        match=re.escape("branch 'second' reads variable 'mine', which only branch 'first'"),
    ):
        engine.deploy("sibling", BRANCHES.replace("READ", "${mine}"))


def test_branch_path_assignment_into_a_sibling_variable_is_refused_at_deploy(
    engine: WorkflowEngine,
) -> None:
    # Same page: `mine.x: 1` needs `mine` to exist in this branch's scope.
    source = BRANCHES.replace("- result.second: READ", "- mine.x: 1")
    with pytest.raises(WorkflowDefinitionError, match="reads variable 'mine'"):
        engine.deploy("sibling_path", source)


def test_branches_reading_outer_and_own_variables_deploy_and_run(engine: WorkflowEngine) -> None:
    # Same page: variables assigned before the parallel step "can be read by any branch".
    engine.deploy("ok", BRANCHES.replace("READ", "${outer * 10}"))
    execution = engine.run("ok")
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == {"first": 2, "second": 10}


def test_sibling_branches_may_each_define_the_same_local_name(engine: WorkflowEngine) -> None:
    # Same page: both branches assign `local_result`, each in its own scope.
    source = BRANCHES.replace("- result.second: READ", "- mine: 5\n").replace(
        "            - second:\n                steps:\n                  - read:\n"
        "                      assign:\n                        - mine: 5\n",
        "            - second:\n                steps:\n                  - read:\n"
        "                      assign:\n                        - mine: 5\n"
        "                        - result.second: ${mine}\n",
    )
    engine.deploy("same_name", source)
    execution = engine.run("same_name")
    assert execution.state == "SUCCEEDED", execution.error
    assert execution.result_value == {"first": 2, "second": 5}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("        next: nowhere", "next: 'nowhere' is not a step"),
        (
            "        switch:\n          - condition: true\n            next: nowhere",
            "next: 'nowhere' is not a step",
        ),
    ],
)
def test_next_to_an_undefined_step_is_refused_at_deploy(
    engine: WorkflowEngine, body: str, expected: str
) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/jumps
    source = f"main:\n  steps:\n    - first:\n{body}\n    - last:\n        return: 1\n"
    with pytest.raises(WorkflowDefinitionError, match=re.escape(expected)):
        engine.deploy("jump", source)


def test_next_into_a_for_loop_body_is_refused_at_deploy(engine: WorkflowEngine) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/iteration: "Jumping in or
    # out of a for loop ... is not allowed".
    source = """
main:
  steps:
    - first:
        next: inside
    - loop:
        for:
          value: v
          in: [1]
          steps:
            - inside:
                assign:
                  - x: ${v}
"""
    with pytest.raises(WorkflowDefinitionError, match=re.escape("next: 'inside'")):
        engine.deploy("into_loop", source)


@pytest.mark.parametrize(
    "step",
    [
        "        call: missing_subworkflow",  # a call step
        "        assign:\n          - x: ${missing_subworkflow()}",  # an expression call
        "        return: ${missing.namespace_fn(1)}",  # an unknown library function
    ],
)
def test_calling_an_undefined_subworkflow_or_function_is_refused_at_deploy(
    engine: WorkflowEngine, step: str
) -> None:
    # https://cloud.google.com/workflows/docs/reference/syntax/subworkflows
    source = f"main:\n  steps:\n    - first:\n{step}\n"
    with pytest.raises(WorkflowDefinitionError, match="unknown function 'missing"):
        engine.deploy("call", source)
