"""Order-independent partition checksums of the tables a pipeline writes: reruns change none.

One BigQuery query per request, whatever the range: each table's rows in the range, grouped by
partition key (a UNION ALL over the tables). Tables not created yet count as empty.
"""

from __future__ import annotations

from typing import Any

from dayflow.partitions import PartitionKeyRange
from dayflow.spec import (
    BigQuerySqlJob,
    CloudRunJob,
    DedupJob,
    Destination,
    HttpJob,
    Pipeline,
    ReplacePartition,
)
from dayflow.warehouse import TableRef, classify_error
from job_runner.domain.runner import JobRunner


def get_partition_checksums(
    runner: JobRunner, pipeline: Pipeline, keys: list[str]
) -> list[dict[str, Any]]:
    """For each key of `keys` (ascending, contiguous: a range's keys), every replace_partition
    destination's row count and fingerprint (the XOR of each row's FARM_FINGERPRINT, so row
    order does not matter)."""
    from google.cloud import bigquery

    if not keys:
        return []
    key_range = PartitionKeyRange(keys[0], keys[-1])

    jobs = [
        job
        for job in pipeline.jobs.values()
        if isinstance(job, DedupJob)
        or (isinstance(job, BigQuerySqlJob) and isinstance(job.write, ReplacePartition))
        or (isinstance(job, HttpJob) and job.destination is not None)  # the service's table
    ]
    tables = [(runner.get_destination(job), job.destination) for job in jobs if job.destination]
    # A cloud_run_job replaces its destination's partition too (its contract, in the README).
    tables += [
        (TableRef(runner.project, runner.environment.get_dataset_id(d.dataset), d.table), d)
        for job in pipeline.jobs.values()
        if isinstance(job, CloudRunJob) and (d := job.destination) is not None
    ]
    names = [f"{dest.dataset}.{dest.table}" for dest, _ in tables]
    scheme = pipeline.scheme
    start, _ = scheme.get_partition_bounds(key_range.start)
    _, end = scheme.get_partition_bounds(key_range.end)
    first_date = scheme.get_partition_date(key_range.start)
    last_date = scheme.get_partition_date(key_range.end)
    params = [
        bigquery.ScalarQueryParameter("range_first_date", "DATE", first_date),
        bigquery.ScalarQueryParameter("range_last_date", "DATE", last_date),
        bigquery.ScalarQueryParameter("range_start", "TIMESTAMP", start),
        bigquery.ScalarQueryParameter("range_end", "TIMESTAMP", end),
        bigquery.ScalarQueryParameter("timezone", "STRING", scheme.timezone),
    ]
    key_format = "%Y-%m-%d" if scheme.granularity == "day" else "%Y-%m-%dT%H"
    selects = [
        _select(i, dest, destination, key_format)
        for i, (dest, destination) in enumerate(tables)
        if _exists(runner, dest)
    ]
    found: dict[tuple[str, int], tuple[int, int]] = {}
    if selects:
        try:
            rows = runner.client.query_and_wait(
                "\nUNION ALL\n".join(selects),
                job_config=bigquery.QueryJobConfig(query_parameters=params),
            )
            found = {(r["partition_key"], r["i"]): (int(r["n"]), int(r["fp"] or 0)) for r in rows}
        except Exception as err:
            raise classify_error(err) from err
    return [
        {
            "partition_key": key,
            "tables": [
                {
                    "table": name,
                    "rows": found.get((key, i), (0, 0))[0],
                    "fingerprint": f"{found.get((key, i), (0, 0))[1] & 0xFFFFFFFFFFFFFFFF:016x}",
                }
                for i, name in enumerate(names)
            ],
        }
        for key in keys
    ]


def _select(index: int, dest: TableRef, destination: Destination, key_format: str) -> str:
    field = f"t.{destination.partition_field}"
    if destination.partition_type == "DATE":
        key = f"FORMAT_DATE('{key_format}', {field})"
        where = f"{field} BETWEEN @range_first_date AND @range_last_date"
    else:
        key = f"FORMAT_TIMESTAMP('{key_format}', {field}, @timezone)"
        where = f"{field} >= @range_start AND {field} < @range_end"
    return (
        f"SELECT {index} AS i, {key} AS partition_key, COUNT(*) AS n, "
        "BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(t))) AS fp "
        f"FROM {dest.sql} AS t WHERE {where} GROUP BY partition_key"
    )


def _exists(runner: JobRunner, dest: TableRef) -> bool:
    """A metadata read, not a query: a table that no run has created yet has no rows."""
    from google.api_core.exceptions import NotFound

    try:
        runner.client.get_table(f"{dest.project}.{dest.dataset}.{dest.table}")
    except NotFound:
        return False
    except Exception as err:
        raise classify_error(err) from err
    return True
