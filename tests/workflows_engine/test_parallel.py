"""Parallel steps: the concurrency limit holds exactly, nesting and branch limits."""

from __future__ import annotations

import pytest
import yaml

from dayflow.workflows_engine import Limits, WorkflowDefinitionError, WorkflowEngine

from .conftest import LocalServer

PARALLEL_GETS = """
main:
  params: [args]
  steps:
    - fan_out:
        parallel:
          concurrency_limit: ${args.limit}
          for:
            value: i
            range: [1, "${args.count}"]
            steps:
              - fetch:
                  call: http.get
                  args:
                    url: ${args.url}
"""


@pytest.mark.parametrize("limit", [1, 3, 5])
def test_parallel_for_never_exceeds_concurrency_limit(
    engine: WorkflowEngine, http_server: LocalServer, limit: int
) -> None:
    engine.deploy("fan_out", PARALLEL_GETS)
    http_server.state.hold_until = limit
    count = limit * 3
    execution = engine.run(
        "fan_out", {"limit": limit, "count": count, "url": f"{http_server.url}/slow"}
    )
    assert execution.state == "SUCCEEDED", execution.error
    assert len(http_server.state.requests) == count
    assert http_server.state.max_in_flight == limit


def test_parallel_for_without_limit_runs_at_most_twenty_at_once(
    engine: WorkflowEngine, http_server: LocalServer
) -> None:
    engine.deploy("fan_out", PARALLEL_GETS.replace("concurrency_limit: ${args.limit}", ""))
    http_server.state.hold_until = 20
    execution = engine.run("fan_out", {"count": 40, "url": f"{http_server.url}/slow"})
    assert execution.state == "SUCCEEDED", execution.error
    assert http_server.state.max_in_flight == 20


def test_parallel_branches_run_concurrently(
    engine: WorkflowEngine, http_server: LocalServer
) -> None:
    branches = "\n".join(
        f"""                - b{i}:
                    steps:
                      - get{i}:
                          call: http.get
                          args:
                            url: {http_server.url}/slow"""
        for i in range(4)
    )
    engine.deploy(
        "branches",
        f"""
main:
  steps:
    - par:
        parallel:
          branches:
{branches}
""",
    )
    http_server.state.hold_until = 4
    execution = engine.run("branches")
    assert execution.state == "SUCCEEDED", execution.error
    assert http_server.state.max_in_flight == 4


def test_parallel_rejects_more_than_ten_branches(engine: WorkflowEngine) -> None:
    branches = [{f"b{i}": {"steps": [{f"s{i}": {"assign": [{f"x{i}": 1}]}}]}} for i in range(11)]
    source = yaml.safe_dump({"main": {"steps": [{"par": {"parallel": {"branches": branches}}}]}})
    with pytest.raises(WorkflowDefinitionError, match="11 branches"):
        engine.deploy("too_many", source)


NESTED = """
main:
  steps:
    - outer:
        parallel:
          for:
            value: i
            in: [1]
            steps:
              - middle:
                  parallel:
                    for:
                      value: j
                      in: [1]
                      steps:
                        - inner:
                            parallel:
                              for:
                                value: k
                                in: [1]
                                steps:
                                  - leaf:
                                      assign:
                                        - x: 1
"""


def test_parallel_nesting_deeper_than_two_is_rejected_at_load(engine: WorkflowEngine) -> None:
    with pytest.raises(WorkflowDefinitionError, match="ParallelNestingError"):
        engine.deploy("nested", NESTED)


def test_parallel_nesting_through_a_subworkflow_raises_parallel_nesting_error(
    engine: WorkflowEngine,
) -> None:
    engine.deploy(
        "nested_call",
        """
main:
  steps:
    - outer:
        parallel:
          for:
            value: i
            in: [1]
            steps:
              - go:
                  call: level_two
level_two:
  steps:
    - middle:
        parallel:
          for:
            value: j
            in: [1]
            steps:
              - go:
                  call: level_three
level_three:
  steps:
    - inner:
        parallel:
          for:
            value: k
            in: [1]
            steps:
              - leaf:
                  assign:
                    - x: 1
""",
    )
    execution = engine.run("nested_call")
    assert execution.error_tags == ["UnhandledBranchError"]
    inner = execution.error["branches"][0]["error"]["branches"][0]["error"]
    assert inner["tags"] == ["ParallelNestingError"]


def test_parallel_nesting_of_two_is_allowed(engine: WorkflowEngine) -> None:
    two_levels = NESTED.split("                        - inner:")[0] + (
        "                        - leaf:\n                            assign:\n"
        "                              - x: 1\n"
    )
    engine.deploy("two", two_levels)
    assert engine.run("two").state == "SUCCEEDED"


def test_lowered_concurrency_ceiling_caps_concurrency_limit(
    make_engine: object, http_server: LocalServer
) -> None:
    engine = make_engine(Limits(max_concurrency=2))  # type: ignore[operator]
    engine.deploy("fan_out", PARALLEL_GETS)
    http_server.state.hold_until = 2
    execution = engine.run("fan_out", {"limit": 10, "count": 6, "url": f"{http_server.url}/slow"})
    assert execution.state == "SUCCEEDED", execution.error
    assert http_server.state.max_in_flight == 2
