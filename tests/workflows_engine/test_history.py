"""Execution history in a JSON Lines file: an engine started on it lists the executions of the
engines before it, as `dayflow local up` restarts the local engine."""

from __future__ import annotations

from pathlib import Path

from dayflow.workflows_engine import WorkflowEngine
from dayflow.workflows_engine.history import STOPPED_MESSAGE, ExecutionHistory

ECHO = "main:\n  params: [args]\n  steps:\n    - done:\n        return: ${args}\n"
# Sleeps until cancelled (on the system clock: the engine that runs it is closed in the test).
NAP = (
    "main:\n  steps:\n    - nap:\n        call: sys.sleep\n        args:\n          seconds: 3600\n"
)


def make_engine(path: Path) -> WorkflowEngine:
    engine = WorkflowEngine(history=ExecutionHistory(path))
    engine.deploy("echo", ECHO)
    engine.deploy("nap", NAP)
    return engine


def test_a_new_engine_lists_finished_executions_with_their_results(tmp_path: Path) -> None:
    path = tmp_path / "executions.jsonl"
    first = make_engine(path)
    done = first.run("echo", {"pipeline": "shop_daily"})
    first.close()
    second = make_engine(path)
    [loaded] = second.list_executions("echo")
    second.close()
    assert (loaded.execution_id, loaded.state, loaded.result_value, loaded.argument) == (
        done.execution_id, "SUCCEEDED", {"pipeline": "shop_daily"}, done.argument
    )  # fmt: skip
    assert (loaded.start_time, loaded.end_time) == (done.start_time, done.end_time)


def test_an_execution_running_when_its_engine_stopped_comes_back_cancelled(
    tmp_path: Path,
) -> None:
    path = tmp_path / "executions.jsonl"
    first = make_engine(path)
    running = first.start_execution("nap")
    second = make_engine(path)  # as if the first engine's process had been killed
    loaded = second.get_execution("nap", running.execution_id)
    first.close()
    second.close()
    assert loaded.state == "CANCELLED"
    assert loaded.error == {"message": STOPPED_MESSAGE, "tags": []}
    assert loaded.wait(0)


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "executions.jsonl"
    first = make_engine(path)
    done = first.run("echo", 1)
    first.close()
    with path.open("a") as out:
        out.write('{"workflow_id": "echo", "execution_')
    second = make_engine(path)
    assert [e.execution_id for e in second.list_executions("echo")] == [done.execution_id]
    second.close()
