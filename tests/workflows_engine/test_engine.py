"""The engine API: deploying a folder, env vars, async executions, cancel, connectors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dayflow.workflows_engine import (
    ExecutionState,
    SystemClock,
    UnknownWorkflowError,
    WorkflowEngine,
)

ECHO_ENV = """
main:
  params: [args]
  steps:
    - r:
        return:
          region: ${sys.get_env("REGION")}
          stage: ${sys.get_env("STAGE")}
          workflow: ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_ID")}
          execution: ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID")}
          location: ${sys.get_env("GOOGLE_CLOUD_LOCATION")}
          args: ${args}
"""


def test_deploy_directory_names_workflows_after_files(tmp_path: Path) -> None:
    (tmp_path / "backfill.workflows.yaml").write_text(ECHO_ENV)
    (tmp_path / "daily_run.workflows.yaml").write_text(ECHO_ENV)
    (tmp_path / "notes.yaml").write_text("not a workflow")
    engine = WorkflowEngine.from_directory(tmp_path, env={"STAGE": "dev"})
    try:
        assert engine.workflow_ids() == ["backfill", "daily_run"]
    finally:
        engine.close()


def test_env_vars_merge_engine_workflow_and_builtins(engine: WorkflowEngine) -> None:
    engine.deploy("echo", ECHO_ENV, env={"REGION": "eu"})
    execution = engine.run("echo", {"partition_key": "2024-01-01"})
    assert execution.result_value == {
        "region": "eu",
        "stage": "test",
        "workflow": "echo",
        "execution": execution.execution_id,
        "location": "us-central1",
        "args": {"partition_key": "2024-01-01"},
    }


def test_start_execution_returns_at_once_and_finishes_in_background(
    engine: WorkflowEngine,
) -> None:
    engine.deploy("echo", ECHO_ENV)
    execution = engine.start_execution("echo", argument_json='{"a": 1}')
    assert execution.wait(5)
    assert engine.get_execution("echo", execution.execution_id).state is ExecutionState.SUCCEEDED
    assert execution.result_value["args"] == {"a": 1}


def test_list_executions_is_newest_first(engine: WorkflowEngine) -> None:
    engine.deploy("echo", ECHO_ENV)
    ids = [engine.run("echo", {"n": n}).execution_id for n in range(3)]
    assert [e.execution_id for e in engine.list_executions("echo")] == ids[::-1]


def test_unknown_workflow_and_execution_raise(engine: WorkflowEngine) -> None:
    with pytest.raises(UnknownWorkflowError, match="workflow 'nope' is not deployed"):
        engine.start_execution("nope")
    engine.deploy("echo", ECHO_ENV)
    with pytest.raises(UnknownWorkflowError, match="does not exist"):
        engine.get_execution("echo", "missing")


def test_cancel_stops_a_sleeping_execution() -> None:
    engine = WorkflowEngine(clock=SystemClock())
    try:
        engine.deploy(
            "sleepy",
            "main:\n  steps:\n    - nap:\n        call: sys.sleep\n        args:\n"
            "          seconds: 60\n    - r:\n        return: done\n",
        )
        execution = engine.start_execution("sleepy")
        deadline = time.monotonic() + 5
        while execution.steps == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        started = time.monotonic()
        engine.cancel_execution("sleepy", execution.execution_id)
        assert execution.wait(5)
        assert time.monotonic() - started < 1
        assert execution.state is ExecutionState.CANCELLED
    finally:
        engine.close()


CONNECTOR = "googleapis.workflowexecutions.v1.projects.locations.workflows.executions"

CHILD = """
main:
  params: [args]
  steps:
    - check:
        switch:
          - condition: ${args.fail}
            raise: {message: child failed, tags: [ChildError]}
    - r:
        return: ${args.partition_key + "!"}
"""


def test_run_connector_returns_child_result(engine: WorkflowEngine) -> None:
    engine.deploy("child", CHILD)
    engine.deploy(
        "parent",
        f"""
main:
  steps:
    - run_child:
        call: {CONNECTOR}.run
        args:
          workflow_id: child
          argument:
            partition_key: "2024-01-01"
            fail: false
        result: out
    - r:
        return: ${{out}}
""",
    )
    assert engine.run("parent").result_value == "2024-01-01!"
    assert len(engine.list_executions("child")) == 1


def test_run_connector_raises_operation_error_when_child_fails(engine: WorkflowEngine) -> None:
    engine.deploy("child", CHILD)
    engine.deploy(
        "parent",
        f"""
main:
  steps:
    - run_child:
        try:
          call: {CONNECTOR}.run
          args:
            workflow_id: child
            argument: {{partition_key: x, fail: true}}
        except:
          as: e
          steps:
            - r:
                return:
                  tags: ${{e.tags}}
                  state: ${{e.operation.state}}
                  child_error: ${{json.decode(e.operation.error.payload).message}}
""",
    )
    assert engine.run("parent").result_value == {
        "tags": ["OperationError"],
        "state": "FAILED",
        "child_error": "child failed",
    }


def test_create_connector_waits_for_child_and_returns_execution(engine: WorkflowEngine) -> None:
    engine.deploy("child", CHILD)
    engine.deploy(
        "parent",
        f"""
main:
  steps:
    - start:
        call: {CONNECTOR}.create
        args:
          parent: projects/local/locations/us-central1/workflows/child
          body:
            argument: '{{"partition_key": "p", "fail": false}}'
        result: created
    - r:
        return: [ "${{created.name}}", "${{created.state}}", "${{created.result}}" ]
""",
    )
    name, state, result = engine.run("parent").result_value
    assert name.startswith("projects/local/locations/us-central1/workflows/child/executions/")
    assert (state, result) == ("SUCCEEDED", '"p!"')
    assert engine.get_execution("child", name.rsplit("/", 1)[1]).result_value == "p!"


def test_create_connector_with_skip_polling_returns_active_execution(
    engine: WorkflowEngine,
) -> None:
    engine.deploy("child", CHILD)
    engine.deploy(
        "parent",
        f"""
main:
  steps:
    - start:
        call: {CONNECTOR}.create
        args:
          parent: projects/local/locations/us-central1/workflows/child
          body:
            argument: '{{"partition_key": "q", "fail": false}}'
          connector_params:
            skip_polling: true
        result: created
    - r:
        return: ${{created.name}}
""",
    )
    name = engine.run("parent").result_value
    child = engine.get_execution("child", name.rsplit("/", 1)[1])
    assert child.wait(5)
    assert child.result_value == "q!"
