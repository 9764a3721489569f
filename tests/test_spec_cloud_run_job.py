"""The `cloud_run_job` kind in the spec: what it accepts, and one line for each bad value."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayflow.cloud_run_jobs import get_cloud_run_job_name, get_job_env
from dayflow.errors import SpecError
from dayflow.spec import CloudRunJob, get_datasets, load_spec


def spec_with(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "name": "meters",
        "environments": {
            "local": {"gcp_project": "local"},
            "dev": {"gcp_project": "acme-meters-dev", "dataset_prefix": "dev_"},
        },
        "sources": {"raw": {"description": "readings"}},
        "pipelines": {
            "daily": {
                "granularity": "day",
                "timezone": "Europe/Stockholm",
                "schedule": "0 2 * * *",
                "start": "2024-01-01",
                "jobs": {"score": {"kind": "cloud_run_job", **job}},
            }
        },
    }


def write(tmp_path: Path, job: dict[str, Any]) -> Path:
    path = tmp_path / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec_with(job), sort_keys=False))
    return path


GOOD = {
    "command": ["python", "jobs/score.py"],
    "args": ["--verbose"],
    "env": {"SCORE_MODEL": "v2"},
    "max_retries": 1,
    "timeout_seconds": 600,
    "destination": {"dataset": "mart", "table": "scores", "partition_field": "score_date"},
    "reads": ["raw"],
}


def test_cloud_run_job_is_accepted_with_its_destination_dataset(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))

    job = spec.pipelines["daily"].jobs["score"]
    assert isinstance(job, CloudRunJob)
    assert (job.image, job.command, job.max_retries, job.memory) == (
        None,
        ["python", "jobs/score.py"],
        1,
        "512Mi",
    )
    assert "mart" in get_datasets(spec)  # created locally and by infra, like any destination


def test_job_env_names_the_destination_in_each_environment(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    job = spec.pipelines["daily"].jobs["score"]
    assert isinstance(job, CloudRunJob)

    env = get_job_env(
        job,
        env_name="dev",
        environment=spec.get_environment("dev"),
        pipeline="daily",
        job_name="score",
    )

    assert env == {
        "SCORE_MODEL": "v2",
        "DAYFLOW_ENV": "dev",
        "DAYFLOW_GCP_PROJECT": "acme-meters-dev",
        "DAYFLOW_DATASET_PREFIX": "dev_",
        "DAYFLOW_BIGQUERY_LOCATION": "europe-north1",
        "DAYFLOW_PIPELINE": "daily",
        "DAYFLOW_JOB": "score",
        "DAYFLOW_DESTINATION_TABLE": "acme-meters-dev.dev_mart.scores",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"command": []},
            "pipelines.daily.jobs.score.command: List should have at least 1 item after "
            "validation, not 0",
        ),
        (
            {"env": {"DAYFLOW_PARTITION_KEY": "x"}},
            "pipelines.daily.jobs.score.env: env 'DAYFLOW_PARTITION_KEY' is set by dayflow for "
            "each partition (expected names that do not start with DAYFLOW_)",
        ),
        (
            {"max_retries": 11},
            "pipelines.daily.jobs.score.max_retries: Input should be less than or equal to 10 "
            "(got 11)",
        ),
        (
            {"image": "Not An Image"},
            "pipelines.daily.jobs.score.image: String should match pattern",
        ),
        (
            {"image": "europe-north1-docker.pkg.dev/acme/tools/exporter:latest"},
            "pipelines.daily.jobs.score.image: image "
            "'europe-north1-docker.pkg.dev/acme/tools/exporter:latest' is not pinned (expected a "
            "digest `@sha256:...` or a tag other than latest)",
        ),
        (
            {"memory": "lots"},
            "pipelines.daily.jobs.score.memory: String should match pattern",
        ),
        (
            {"reads": ["nowhere"]},
            "pipelines.daily.jobs.score.reads: unknown dataset 'nowhere' (expected a dataset of "
            "the spec or a declared source: dayflow, mart, raw)",
        ),
        (
            {"task_count": 4},
            "pipelines.daily.jobs.score.task_count: Extra inputs are not permitted",
        ),
    ],
)
def test_a_bad_cloud_run_job_is_one_line_naming_the_value(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, {**GOOD, **change})

    with pytest.raises(SpecError) as caught:
        load_spec(path)

    assert caught.value.lines[0].startswith(f"{path}: {message}")


def test_cloud_run_job_names_are_valid_and_distinct() -> None:
    assert get_cloud_run_job_name("shop_daily", "score_customers") == (
        "dayflow-shop-daily-score-customers"
    )
    long_a = get_cloud_run_job_name("p" * 40, "a" * 40)
    long_b = get_cloud_run_job_name("p" * 40, "a" * 39 + "b")
    assert long_a != long_b
    for name in (long_a, long_b):
        assert re.fullmatch(r"[a-z][a-z0-9-]{0,47}[a-z0-9]", name), name
