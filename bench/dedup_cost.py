"""Bytes billed by a 1-year daily backfill of a dedup job over 10 GiB of ingest a day, before
and after bounding the ingest scan and materializing the SELECT once. Prints one JSON object.

The emulator bills nothing, so this is a model, driven by the SQL the code generates: for each
partition, the `ingested_at` window comes from the dedup SELECT's own bounds (lookback, lateness
allowance, else up to now) and the number of times the replace script evaluates the SELECT is
counted in the script. BigQuery bills a query by the partitions it reads; a DML statement on a
partitioned table by q' (what it reads) plus, for DELETE, t' (the size of the partitions it
changes): https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax.

Per partition P (ingest D GiB/day, output partition O GiB, assumed = D: an upper bound):
- before (no upper bound, SELECT in ASSERT and INSERT): 2 x D x days(P.start - 2d, now) + O
  (DELETE);
- after (bounded, SELECT once into a temp table): D x days(P.start - 2d, min(now, P.end + 7d))
  + O (INSERT reads the temp table) + O (DELETE); the ASSERT reads one column of the temp table
  (counted as 0).
The backfill runs right after its last partition ends (now = that end).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from dayflow.partitions import PartitionKeyRange, PartitionScheme
from dayflow.semantic import build_dedup_sql
from dayflow.spec import DedupJob, Destination, Topic, TopicField
from dayflow.warehouse import TableRef
from job_runner.domain.writes import _replace_sql

GIB = 2**30
TIB = 2**40
PIB = 2**50
INGEST_GIB_PER_DAY = 10
OUTPUT_GIB_PER_PARTITION = 10
SCHEME = PartitionScheme("day", "UTC")
KEYS = PartitionKeyRange("2025-01-01", "2025-12-31")
TOPIC = Topic(
    fields={"id": TopicField(type="string"), "at": TopicField(type="timestamp")},
    key=["id"],
    event_time="at",
)
DESTINATION = Destination(dataset="semantic", table="things", partition_field="partition_date")


def _window_days(sql: str, start: datetime, end: datetime, now: datetime) -> float:
    """Days of ingest partitions the SELECT reads for the partition [start, end)."""
    lookback = re.search(r"@partition_start, INTERVAL (\d+) SECOND", sql)
    assert lookback is not None
    upper = now
    if bound := re.search(r"ingested_at < TIMESTAMP_ADD\(@partition_end, INTERVAL (\d+)", sql):
        upper = min(now, end + timedelta(seconds=int(bound[1])))
    lower = start - timedelta(seconds=int(lookback[1]))
    return (upper - lower).total_seconds() / 86400


def _cost(
    allowed_lateness_days: int | None, select_evaluations: int | None = None
) -> dict[str, float]:
    job = DedupJob(
        kind="dedup", topic="things", destination=DESTINATION,
        allowed_lateness_days=allowed_lateness_days,
    )  # fmt: skip
    select = build_dedup_sql("things", TOPIC, job, "acme-shop.ingest")
    script = _replace_sql(TableRef("acme-shop", "semantic", "things"), DESTINATION, ["id"], select)
    evaluations = select_evaluations or script.count(select)
    keys = SCHEME.get_partition_keys(KEYS)
    now = SCHEME.get_partition_bounds(keys[-1])[1]
    days = sum(_window_days(select, *SCHEME.get_partition_bounds(k), now) for k in keys)
    # Before: the DELETE; after: the INSERT from the temp table and the DELETE.
    writes = (1 if select_evaluations else 2) * OUTPUT_GIB_PER_PARTITION * len(keys)
    gib = evaluations * days * INGEST_GIB_PER_DAY + writes
    return {
        "ingest_days_read_per_evaluation": round(days, 1),
        "select_evaluations_per_partition": evaluations,
        "gib_billed": round(gib),
        "tib_billed": round(gib * GIB / TIB, 1),
        "pib_billed": round(gib * GIB / PIB, 4),
    }


def main() -> None:
    # Before: no upper bound, and the old script evaluated the SELECT twice (ASSERT and INSERT).
    before = _cost(None, select_evaluations=2)
    after = _cost(DedupJob.model_fields["allowed_lateness_days"].default)
    print(
        json.dumps(
            {
                "partitions": len(SCHEME.get_partition_keys(KEYS)),
                "ingest_gib_per_day": INGEST_GIB_PER_DAY,
                "output_gib_per_partition": OUTPUT_GIB_PER_PARTITION,
                "before": before,
                "after_default_7_day_lateness": after,
                "after_no_lateness_bound": _cost(None),
                "reduction_factor": round(before["gib_billed"] / after["gib_billed"], 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
