"""A generated spec of any size, with every job kind: for the scale tests and bench/infra.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_spec(folder: Path, num_pipelines: int, num_topics: int = 10) -> Path:
    """A valid spec with `num_pipelines` pipelines of every job kind, and `num_topics` topics.

    Pipeline i has a SQL job into `staging_<i % 5>`, a dedup job of topic `events_<i % topics>`
    into `semantic`, and depending on i a dbt job, a managed Dataform job, or an HTTP call;
    every seventh pipeline is hourly.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sql").mkdir(exist_ok=True)
    topics = {
        f"events_{t}": {
            "key": ["id"],
            "event_time": "updated_at",
            "fields": {
                "id": {"type": "string", "required": True},
                "amount": {"type": "number"},
                "tags": {"type": "array"},
                "updated_at": {"type": "timestamp", "required": True},
            },
        }
        for t in range(num_topics)
    }
    pipelines: dict[str, Any] = {}
    for i in range(num_pipelines):
        hourly = i % 7 == 6
        sql = f"sql/p{i}.sql"
        (folder / sql).write_text(f"SELECT {i} AS n, @partition_key AS partition_key\n")
        partition_type = "TIMESTAMP" if hourly else "DATE"
        jobs: dict[str, Any] = {
            "load": {
                "kind": "bigquery_sql",
                "sql": sql,
                "destination": {
                    "dataset": f"staging_{i % 5}",
                    "table": f"t{i}",
                    "partition_field": "ts" if hourly else "d",
                    "partition_type": partition_type,
                },
            },
            "dedup": {
                "kind": "dedup",
                "topic": f"events_{i % num_topics}",
                "history": i % 2 == 1,
                "destination": {
                    "dataset": "semantic",
                    "table": f"events_{i}",
                    "partition_field": "updated_at" if hourly else "event_date",
                    "partition_type": partition_type,
                    "clustering": ["id"],
                },
            },
        }
        if i % 10 == 3:
            jobs["models"] = {
                "kind": "dbt",
                "project_dir": "dbt",
                "depends_on": ["load"],
                "writes": ["mart"],
                "reads": ["semantic"],
            }
        elif i % 10 == 5:
            jobs["dataform"] = {
                "kind": "dataform",
                "project_dir": "dataform",
                "managed": {"repository": f"repo_{i % 2}", "git_commitish": "main"},
                "writes": ["mart", "dataform_assertions"],
                "reads": ["semantic"],
            }
        pipelines[f"pipeline_{i}"] = {
            "granularity": "hour" if hourly else "day",
            "timezone": ["Europe/Stockholm", "UTC", "America/New_York"][i % 3],
            "schedule": f"{i % 60} {'*' if hourly else i % 24} * * *",
            "start": "2024-01-01T00" if hourly else "2024-01-01",
            "jobs": jobs,
        }
    spec = {
        "version": 1,
        "name": "generated",
        "environments": {
            "local": {"gcp_project": "local"},
            "dev": {
                "gcp_project": "acme-shop-dev",
                "dataset_prefix": "dev_",
                "labels": {"env": "dev"},
            },
            "prod": {"gcp_project": "acme-shop-prod", "labels": {"env": "prod"}},
        },
        "pipelines": pipelines,
        "topics": topics,
    }
    path = folder / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path
