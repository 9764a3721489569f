"""Run one partition's jobs through the job-runner, wave by wave, as `dayflow run` does.

The jobs of a wave run side by side; the next wave starts only when every job of this one
succeeded (a failed job stops the partition: its downstream jobs are not run). Each run waits for
its terminal state (`JobRunnerClient.run` polls while the job-runner answers 202).

Shared by the CLI (`dayflow run`) and the pytest plugin (`dayflow.testing`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from dayflow.errors import DayflowError, NotFoundError

if TYPE_CHECKING:
    from dayflow.runner_client import JobRunnerClient

# Jobs of one wave in flight at once (the job-runner holds each run; these threads only wait).
MAX_PARALLEL_JOBS = 8


def run_partition(
    client: JobRunnerClient, pipeline: str, partition_key: str, job: str | None = None
) -> list[dict[str, Any]]:
    """Run every job of one partition (or only `job`) in plan order; return one record per job
    started, in start order.

    A succeeded job's record is the job-runner's outcome (`run_id`, `status`, `rows_written`,
    `duration_seconds`, `bigquery_job_id`, ...); a failed job's is `pipeline`, `job`,
    `partition_key`, `status: "failed"` and `error` (the job-runner's message).

    Raises:
        NotFoundError: the pipeline or job is unknown to the job-runner (a user error, not a
            failed run).
    """
    waves = (
        [[job]]
        if job is not None
        else client.get_plan(pipeline, partition_key, partition_key)["partitions"][0]["waves"]
    )
    records: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL_JOBS) as pool:
        for wave in waves:
            futures = {
                name: pool.submit(client.run, pipeline, name, partition_key) for name in wave
            }
            failed = False
            for name, future in futures.items():
                try:
                    records.append(future.result())
                except NotFoundError:
                    raise
                except DayflowError as err:
                    failed = True
                    records.append(
                        {
                            "pipeline": pipeline,
                            "job": name,
                            "partition_key": partition_key,
                            "status": "failed",
                            "error": str(err),
                        }
                    )
            if failed:
                break
    return records


def get_first_failure(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first failed record of `run_partition`'s, or None when every job succeeded."""
    return next((r for r in records if r["status"] == "failed"), None)
