"""Arguments: the workflows leave their checks to the job-runner's POST /backfills/plan (the
messages of POST /backfills), and the subworkflows copied across files stay identical."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from dayflow.workflows_engine import FakeClock, WorkflowEngine
from tests.workflows.conftest import WORKFLOWS, Backfills

# Nothing listens here.
UNREACHABLE = "http://127.0.0.1:9"
# Workflows has no imports: a subworkflow two files need is copied into both.
SHARED_SUBWORKFLOWS = ("get_plan", "run_waves", "describe_job_failure", "is_job_failure")


@pytest.fixture
def engine() -> Iterator[WorkflowEngine]:
    engine = WorkflowEngine(clock=FakeClock(), env={"JOB_RUNNER_URL": UNREACHABLE})
    engine.deploy_directory(WORKFLOWS)
    yield engine
    engine.close()


def backfill_error(backfills: Backfills, **overrides: Any) -> dict[str, Any]:
    argument = {"pipeline": "shop_daily", "start": "2024-01-01", "end": "2024-01-30"}
    execution = backfills.run("backfill", {**argument, **overrides})
    assert execution.state == "FAILED"
    assert execution.error_tags == ["ValueError"]
    assert backfills.get_stats()["max_runs_in_flight"] == 0  # refused before any run
    error: dict[str, Any] = execution.error
    return error


@pytest.mark.emulator
def test_backfill_refuses_bad_arguments_with_the_job_runners_message(
    make_backfills: Callable[..., Backfills],
) -> None:
    backfills = make_backfills("runner")
    backfills.get_stats(reset=True)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"concurrency": 101}, "concurrency: Input should be less than or equal to 100"),
        ({"concurrency": "4"}, "concurrency: Input should be a valid integer"),
        ({"order": "up"}, "order: Input should be 'asc' or 'desc'"),
        ({"only": "some"}, "only: Input should be 'all', 'failed' or 'missing'"),
        ({"backfill_id": "a b"}, "backfill_id: String should match pattern"),
        ({"chunk_size": 0}, "chunk_size: Input should be greater than or equal to 1"),
        ({"pipeline": "nope"}, "pipeline 'nope'"),
        ({"start": "2024-02-01"}, "start '2024-02-01' is after end '2024-01-30'"),
        ({"end": None}, "end: expected a value, not null"),
        ({"partition_keys": ["2024-01-01"]}, "expected either start and end, or partition_keys"),
        (
            {"chunk_size": 2000},
            "chunk_size 2000 x 3 jobs per partition is more than 5000 partition-jobs per chunk"
            " (expected chunk_size <= 1666)",
        ),
    ]
    for overrides, message in cases:
        assert message in backfill_error(backfills, **overrides)["message"], overrides
    # The same check, the same message as POST /backfills.
    response = backfills.runner.post(
        "/backfills", json={"pipeline": "shop_daily", "start": "2024-01-01", "end": "2024-01-30",
                            "concurrency": 101},
    )  # fmt: skip
    assert response.status_code == 422
    assert cases[0][1] in response.json()["detail"]


@pytest.mark.emulator
def test_backfill_refuses_a_bad_key_in_partition_keys(
    make_backfills: Callable[..., Backfills],
) -> None:
    backfills = make_backfills("runner")
    execution = backfills.run(
        "backfill", {"pipeline": "shop_daily", "partition_keys": ["2024-01-01", "2024-02-30"]}
    )
    assert execution.error_tags == ["ValueError"]
    assert execution.error["message"] == (
        "partition_key '2024-02-30' is not a date (expected YYYY-MM-DD)"
    )


def test_backfill_refuses_an_argument_that_is_not_a_map(engine: WorkflowEngine) -> None:
    execution = engine.run("backfill", ["shop_daily"])
    assert execution.error_tags == ["ValueError"]
    assert execution.error["message"] == (
        "backfill expects a map argument {pipeline, start, end, ...}, got list"
    )


@pytest.mark.emulator
def test_run_partition_refuses_a_missing_partition_key(
    make_backfills: Callable[..., Backfills],
) -> None:
    backfills = make_backfills("runner")
    execution = backfills.run("run_partition", {"pipeline": "shop_daily"})
    assert execution.error_tags == ["ValueError"]
    assert "partition_keys" in execution.error["message"]
    assert "Input should be a valid string" in execution.error["message"]


def test_unreachable_job_runner_is_retried_then_reraised_unchanged(
    engine: WorkflowEngine,
) -> None:
    execution = engine.run(
        "run_partition", {"pipeline": "shop_daily", "partition_key": "2024-01-01"}
    )
    assert "ConnectionFailedError" in execution.error_tags
    assert engine.clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]  # type: ignore[attr-defined]


def test_subworkflows_copied_across_workflow_files_are_identical() -> None:
    sources = {
        path.name: yaml.safe_load(path.read_text()) for path in WORKFLOWS.glob("*.workflows.yaml")
    }
    assert set(sources) == {
        "backfill.workflows.yaml",
        "backfill_chunk.workflows.yaml",
        "run_partition.workflows.yaml",
    }
    for name in SHARED_SUBWORKFLOWS:
        copies = {file: source[name] for file, source in sources.items() if name in source}
        assert len(copies) >= 2, f"{name} is no longer shared: drop it from the list"
        reference = next(iter(copies.values()))
        for file, copy in copies.items():
            assert copy == reference, f"{file}: {name} differs from its other copies"
    # One subworkflow runs a partition's waves, for scheduled runs and backfills alike.
    assert "run_waves" in sources["run_partition.workflows.yaml"]
    assert "run_waves" in sources["backfill_chunk.workflows.yaml"]
