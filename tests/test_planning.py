from __future__ import annotations

from dayflow.partitions import PartitionKeyRange
from dayflow.planning import get_job_waves, plan_partitions
from dayflow.spec import Pipeline

PIPELINE = Pipeline.model_validate(
    {
        "granularity": "day",
        "timezone": "UTC",
        "schedule": "0 2 * * *",
        "start": "2024-01-01",
        "jobs": {
            "extract": {"kind": "http", "service": "svc"},
            "a": {"kind": "http", "service": "svc", "depends_on": ["extract"]},
            "b": {"kind": "http", "service": "svc", "depends_on": ["extract"]},
            "mart": {"kind": "http", "service": "svc", "depends_on": ["a", "b"]},
            "side": {"kind": "http", "service": "svc"},
        },
    }
)
RANGE = PartitionKeyRange("2024-01-01", "2024-01-03")


def test_waves_follow_dependencies_and_group_independent_jobs() -> None:
    assert get_job_waves(PIPELINE) == (("extract", "side"), ("a", "b"), ("mart",))


def test_plan_all_gives_every_partition_every_wave_in_order() -> None:
    plans = plan_partitions(PIPELINE, RANGE, order="desc")
    assert [p.partition_key for p in plans] == ["2024-01-03", "2024-01-02", "2024-01-01"]
    assert all(p.num_jobs == 5 for p in plans)


def test_only_failed_reruns_failed_jobs_and_their_downstream() -> None:
    statuses = {
        (k, j): "succeeded"
        for k in ("2024-01-01", "2024-01-02", "2024-01-03")
        for j in PIPELINE.jobs
    }
    statuses[("2024-01-02", "a")] = "failed"
    plans = plan_partitions(PIPELINE, RANGE, only="failed", statuses=statuses)
    assert [(p.partition_key, p.waves) for p in plans] == [("2024-01-02", (("a",), ("mart",)))]


def test_only_missing_runs_jobs_that_never_succeeded() -> None:
    statuses = {("2024-01-01", j): "succeeded" for j in PIPELINE.jobs}
    statuses[("2024-01-02", "extract")] = "succeeded"
    statuses[("2024-01-02", "side")] = "running"
    plans = plan_partitions(PIPELINE, RANGE, only="missing", statuses=statuses)
    assert [p.partition_key for p in plans] == ["2024-01-02", "2024-01-03"]
    assert plans[0].waves == (("side",), ("a", "b"), ("mart",))  # waves keep their levels


def test_explicit_keys_are_deduplicated_and_ordered() -> None:
    plans = plan_partitions(PIPELINE, keys=["2024-01-05", "2024-01-02", "2024-01-05"])
    assert [p.partition_key for p in plans] == ["2024-01-02", "2024-01-05"]


def test_job_selection_keeps_dependency_order() -> None:
    plans = plan_partitions(PIPELINE, RANGE, jobs=["mart", "extract"])
    assert plans[0].waves == (("extract",), ("mart",))
