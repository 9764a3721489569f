"""Argument validation and the helpers the workflow files share: no job-runner needed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from dayflow.workflows_engine import FakeClock, WorkflowEngine
from tests.workflows.conftest import WORKFLOWS

# Nothing listens here: every case below must fail before calling the job-runner.
UNREACHABLE = "http://127.0.0.1:9"
SHARED_HELPERS = ("is_transient", "is_job_runner_error", "describe_job_failure", "error_detail")


@pytest.fixture
def engine() -> Iterator[WorkflowEngine]:
    engine = WorkflowEngine(clock=FakeClock(), env={"JOB_RUNNER_URL": UNREACHABLE})
    engine.deploy_directory(WORKFLOWS)
    yield engine
    engine.close()


def backfill_error(engine: WorkflowEngine, **overrides: Any) -> dict[str, Any]:
    argument = {"pipeline": "shop_daily", "start": "2024-01-01", "end": "2024-01-30"}
    execution = engine.run("backfill", {**argument, **overrides})
    assert execution.state == "FAILED"
    assert execution.error_tags == ["ValueError"]  # refused before calling the job-runner
    error: dict[str, Any] = execution.error
    return error


@pytest.mark.parametrize("concurrency", [0, 21, -1, "4", 2.5, True])
def test_backfill_rejects_concurrency_outside_1_to_20(
    engine: WorkflowEngine, concurrency: object
) -> None:
    error = backfill_error(engine, concurrency=concurrency)
    assert error["message"].startswith("concurrency must be an integer from 1 to 20, got ")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"order": "up"}, 'order must be asc or desc, got "up"'),
        ({"only": "some"}, 'only must be all, failed or missing, got "some"'),
        ({"dry_run": "yes"}, 'dry_run must be true or false, got "yes"'),
        ({"backfill_id": "a b"}, "backfill_id 'a b' must match [A-Za-z0-9_-]{1,100}"),
        ({"chunk_size": 0}, "chunk_size must be an integer from 1 to 2000, got 0"),
        ({"pipeline": ""}, 'pipeline must be a non-empty string, got ""'),
        (
            {"start": "2024-02-01"},
            "start '2024-02-01' is after end '2024-01-30' (expected start <= end)",
        ),
        (
            {"end": "2024-1-30"},
            "end '2024-1-30' is not a partition key (expected YYYY-MM-DD or YYYY-MM-DDTHH)",
        ),
        (
            {"end": None},
            'start and end must be partition key strings (or give partition_keys), got start="2024-01-01", end=null',
        ),
        (
            {"partition_keys": ["2024-01-01"]},
            "give either start and end or partition_keys, not both",
        ),
    ],
)
def test_backfill_rejects_bad_arguments_with_a_message_naming_them(
    engine: WorkflowEngine, overrides: dict[str, Any], message: str
) -> None:
    assert backfill_error(engine, **overrides)["message"] == message


def test_backfill_rejects_a_bad_key_in_partition_keys(engine: WorkflowEngine) -> None:
    execution = engine.run(
        "backfill", {"pipeline": "shop_daily", "partition_keys": ["2024-01-01", "Jan 2"]}
    )
    assert execution.error_tags == ["ValueError"]
    assert execution.error["message"] == (
        "partition_keys: 'Jan 2' is not a partition key (expected YYYY-MM-DD or YYYY-MM-DDTHH)"
    )


def test_backfill_rejects_a_key_listed_twice(engine: WorkflowEngine) -> None:
    execution = engine.run(
        "backfill",
        {"pipeline": "shop_daily", "partition_keys": ["2024-01-01", "2024-01-02", "2024-01-01"]},
    )
    assert execution.error_tags == ["ValueError"]
    assert execution.error["message"] == (
        "partition_keys: '2024-01-01' is listed twice (expected each key once)"
    )


def test_run_partition_rejects_a_missing_partition_key(engine: WorkflowEngine) -> None:
    execution = engine.run("run_partition", {"pipeline": "shop_daily"})
    assert execution.error_tags == ["ValueError"]
    assert execution.error["message"] == (
        "partition_key must be a string (YYYY-MM-DD or YYYY-MM-DDTHH), got null"
    )


def test_unreachable_job_runner_is_retried_then_reraised_unchanged(
    engine: WorkflowEngine,
) -> None:
    execution = engine.run(
        "run_partition", {"pipeline": "shop_daily", "partition_key": "2024-01-01"}
    )
    assert "ConnectionFailedError" in execution.error_tags
    assert engine.clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]  # type: ignore[attr-defined]


def test_job_runner_helpers_are_identical_in_every_workflow_file() -> None:
    sources = {
        path.name: yaml.safe_load(path.read_text()) for path in WORKFLOWS.glob("*.workflows.yaml")
    }
    assert set(sources) == {
        "backfill.workflows.yaml",
        "backfill_chunk.workflows.yaml",
        "run_partition.workflows.yaml",
    }
    reference = sources["run_partition.workflows.yaml"]
    for name, source in sources.items():
        for helper in SHARED_HELPERS:
            assert source[helper] == reference[helper], f"{name}: {helper} differs"
