"""Run one partition's jobs through the job-runner, wave by wave, as `dayflow run` does.

The jobs of a wave run side by side; the next wave starts only when every job of this one
succeeded (a failed job stops the partition: its downstream jobs are recorded as `not run`; so
does a job `waiting` for upstream partitions of other pipelines, which is not a failure).
Each run waits for its terminal state (`JobRunnerClient.run` polls while the job-runner answers
202).

Shared by the CLI (`dayflow run`) and the pytest plugin (`dayflow.testing`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from dayflow.errors import DayflowError, NotFoundError, UpstreamNotReadyError, UserError
from dayflow.partition_bounds import check_partition_key

if TYPE_CHECKING:
    from dayflow.runner_client import JobRunnerClient
    from dayflow.spec import Spec

# Jobs of one wave in flight at once (the job-runner holds each run; these threads only wait).
MAX_PARALLEL_JOBS = 8


def run_partition(
    client: JobRunnerClient, pipeline: str, partition_key: str, job: str | None = None
) -> list[dict[str, Any]]:
    """Run every job of one partition (or only `job`) in plan order; return one record per job,
    in wave order.

    A succeeded job's record is the job-runner's outcome (`run_id`, `status`, `rows_written`,
    `duration_seconds`, `bigquery_job_id`, ...); a failed job's is `pipeline`, `job`,
    `partition_key`, `status: "failed"` and `error` (the job-runner's message); a waiting job's
    is `status: "waiting"`, `error` naming the missing upstream partitions, `run_id` and
    `missing`; a job after a failed or waiting wave has `status: "not run"`.

    Raises:
        NotFoundError: the pipeline or job is unknown to the job-runner (a user error, not a
            failed run).
    """
    waves = [[job]] if job is not None else get_waves(client, pipeline, partition_key)
    records: list[dict[str, Any]] = []
    failed = False
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL_JOBS) as pool:
        for wave in waves:
            if failed:
                records += [_record(pipeline, name, partition_key, "not run") for name in wave]
                continue
            futures = {
                name: pool.submit(client.run, pipeline, name, partition_key) for name in wave
            }
            for name, future in futures.items():
                try:
                    records.append(future.result())
                except NotFoundError:
                    raise
                except UpstreamNotReadyError as err:
                    # Not a failure; the partition stops here all the same.
                    failed = True
                    records.append(
                        _record(
                            pipeline, name, partition_key, "waiting", error=str(err),
                            run_id=err.run_id, missing=err.missing,
                        )
                    )  # fmt: skip
                except DayflowError as err:
                    failed = True
                    records.append(_record(pipeline, name, partition_key, "failed", error=str(err)))
    return records


def get_waves(client: JobRunnerClient, pipeline: str, partition_key: str) -> list[list[str]]:
    """The partition's job waves, from the job-runner's plan."""
    plan = client.get_plan(pipeline, partition_key, partition_key)
    if not plan["partitions"]:
        # The caller checked the key against its spec: the job-runner's spec differs from it.
        raise UserError(
            f"partition_key {partition_key!r} is not a partition of pipeline {pipeline!r} "
            "in the job-runner's spec (expected the deployed spec to match this one)"
        )
    waves: list[list[str]] = plan["partitions"][0]["waves"]
    return waves


def check_run(spec: Spec, pipeline: str, partition_key: str, job: str | None = None) -> None:
    """Refuse, from the spec and before the job-runner is called, an unknown pipeline or job and
    a key that is not one of the pipeline's partitions (such as an hour DST skips): the caller's
    mistake, not a run that failed (the job-runner would answer both with a 4xx, as it answers a
    run's permanent failure)."""
    spec_pipeline = spec.get_pipeline(pipeline)
    check_partition_key(pipeline, spec_pipeline, partition_key)
    if job is not None and job not in spec_pipeline.jobs:
        raise NotFoundError(
            f"unknown job {job!r} in pipeline {pipeline!r} "
            f"(expected one of: {', '.join(spec_pipeline.jobs)})"
        )


def _record(
    pipeline: str, job: str, partition_key: str, status: str, **fields: Any
) -> dict[str, Any]:
    return {
        "pipeline": pipeline,
        "job": job,
        "partition_key": partition_key,
        "status": status,
        **fields,
    }
