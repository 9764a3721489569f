"""Order-independent partition checksums of the tables a pipeline writes: reruns change none."""

from __future__ import annotations

from typing import Any

from dayflow.spec import BigQuerySqlJob, DedupJob, Pipeline, ReplacePartition
from dayflow.warehouse import classify_error
from job_runner.domain.runner import JobRunner, Partition
from job_runner.domain.writes import get_partition_predicate


def get_partition_checksums(
    runner: JobRunner, pipeline: Pipeline, keys: list[str]
) -> list[dict[str, Any]]:
    """For each key, every replace_partition destination's row count and fingerprint (the XOR of
    each row's FARM_FINGERPRINT, so row order does not matter)."""
    from google.cloud import bigquery

    jobs = [
        job
        for job in pipeline.jobs.values()
        if isinstance(job, DedupJob)
        or (isinstance(job, BigQuerySqlJob) and isinstance(job.write, ReplacePartition))
    ]
    result = []
    for key in keys:
        params = Partition(key, pipeline.scheme).get_query_parameters()
        tables = []
        for job in jobs:
            dest = runner.get_destination(job)
            sql = (
                "SELECT COUNT(*) AS n, BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(t))) AS fp "
                f"FROM {dest.sql} AS t WHERE {get_partition_predicate(job.destination, 't.')}"
            )
            try:
                rows = list(
                    runner.client.query_and_wait(
                        sql, job_config=bigquery.QueryJobConfig(query_parameters=params)
                    )
                )
            except Exception as err:
                if "not found" in str(err).lower():
                    rows = []
                else:
                    raise classify_error(err) from err
            n, fp = (rows[0]["n"], rows[0]["fp"]) if rows else (0, None)
            tables.append(
                {
                    "table": f"{dest.dataset}.{dest.table}",
                    "rows": int(n),
                    "fingerprint": f"{(fp or 0) & 0xFFFFFFFFFFFFFFFF:016x}",
                }
            )
        result.append({"partition_key": key, "tables": tables})
    return result
