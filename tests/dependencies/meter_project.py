"""A tiny smart-meter project for the cross-pipeline dependency tests: an hourly pipeline of
readings in America/New_York and a daily rollup that depends on it (hours_of_day)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml

TIMEZONE = "America/New_York"

# Two meters, one reading every 20 minutes of real time: a partition of two real hours (the
# repeated hour of a fall-back day) holds twice the rows of an ordinary one.
READINGS_SQL = """\
SELECT
  meter,
  @partition_key AS hour_key,
  TIMESTAMP_ADD(@partition_start, INTERVAL step * 20 MINUTE) AS read_at,
  step + 1 AS kwh
FROM UNNEST(['m1', 'm2']) AS meter
CROSS JOIN UNNEST(
  GENERATE_ARRAY(0, DIV(TIMESTAMP_DIFF(@partition_end, @partition_start, MINUTE), 20) - 1)
) AS step
"""

ROLLUP_SQL = """\
SELECT @partition_date AS day, meter, COUNT(*) AS readings, SUM(kwh) AS kwh,
  COUNT(DISTINCT hour_key) AS hours
FROM {{ dataset:meter }}.readings_hourly
WHERE read_at >= @partition_start AND read_at < @partition_end
GROUP BY meter
"""


def meter_spec(prefix: str | None = None, **daily_jobs: Any) -> dict[str, Any]:
    """The spec as a dict; `daily_jobs` replace the daily pipeline's jobs."""
    return {
        "version": 1,
        "name": "meters",
        "environments": {
            "local": {
                "gcp_project": "local",
                "dataset_prefix": prefix or f"t{uuid.uuid4().hex[:8]}_",
            }
        },
        "pipelines": {
            "meter_hourly": {
                "granularity": "hour",
                "timezone": TIMEZONE,
                "schedule": "5 * * * *",
                "start": "2024-01-01T00",
                "jobs": {
                    "readings": {
                        "kind": "bigquery_sql",
                        "sql": "sql/readings.sql",
                        "destination": {
                            "dataset": "meter",
                            "table": "readings_hourly",
                            "partition_field": "read_at",
                            "partition_type": "TIMESTAMP",
                        },
                    }
                },
            },
            "meter_daily": {
                "granularity": "day",
                "timezone": TIMEZONE,
                "schedule": "0 3 * * *",
                "start": "2024-01-01",
                "jobs": daily_jobs
                or {
                    "rollup": {
                        "kind": "bigquery_sql",
                        "sql": "sql/rollup.sql",
                        "depends_on": [{"pipeline": "meter_hourly", "job": "readings"}],
                        "destination": {
                            "dataset": "meter",
                            "table": "daily_usage",
                            "partition_field": "day",
                        },
                    }
                },
            },
        },
    }


def write_meter_project(root: Path, spec: dict[str, Any] | None = None) -> Path:
    """Write the spec and its SQL under `root`; return the spec's path."""
    (root / "sql").mkdir(parents=True, exist_ok=True)
    (root / "sql" / "readings.sql").write_text(READINGS_SQL)
    (root / "sql" / "rollup.sql").write_text(ROLLUP_SQL)
    path = root / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec or meter_spec(), sort_keys=False))
    return path
