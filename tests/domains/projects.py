"""Two domain projects written to disk: `a` exposes a table, `b` consumes it.

Each is a whole dayflow project as `dayflow init` lays one out: `dayflow.yaml`, SQL, a seed,
`Pulumi.yaml`, `Pulumi.dev.yaml` and an `infra/__main__.py` that calls `dayflow.infra`.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

import yaml

IMAGE = (
    "europe-north1-docker.pkg.dev/acme-shared/dayflow/job-runner@sha256:"
    "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
)
A_DEV_PROJECT = "acme-a-dev"
B_DEV_PROJECT = "acme-b-dev"
EXPOSED_COLUMNS: dict[str, dict[str, Any]] = {
    "sales_date": {"type": "DATE", "required": True, "description": "day of the sales"},
    "total": {"type": "FLOAT64", "required": True, "description": "sum of amounts, EUR"},
    "sales": {"type": "INT64", "description": "number of sales"},
}
SALES = [
    {"sale_id": "s1", "amount": 10.0, "sold_at": "2024-01-02T09:00:00Z"},
    {"sale_id": "s2", "amount": 32.5, "sold_at": "2024-01-02T17:30:00Z"},
    {"sale_id": "s3", "amount": 7.5, "sold_at": "2024-01-03T08:00:00Z"},
]

MAIN = '''\
"""Pulumi entry point: dayflow's program for the spec beside Pulumi.yaml."""

from pathlib import Path

from dayflow.infra.program import run

run(Path(__file__).resolve().parent.parent)
'''


def _pipeline(job: str, sql: str, dataset: str, table: str, field: str) -> dict[str, Any]:
    return {
        "granularity": "day",
        "timezone": "UTC",
        "schedule": "0 3 * * *",
        "start": "2024-01-01",
        "jobs": {
            job: {
                "kind": "bigquery_sql",
                "sql": sql,
                "destination": {"dataset": dataset, "table": table, "partition_field": field},
            }
        },
    }


def _environments(name: str, dev_project: str) -> dict[str, Any]:
    return {
        # Each test gets its own local datasets in the shared emulator.
        "local": {"gcp_project": "local", "dataset_prefix": f"{name}{uuid.uuid4().hex[:8]}_"},
        "dev": {"gcp_project": dev_project, "region": "europe-north1", "dataset_prefix": "dev_"},
    }


def spec_a(source_dataset: str) -> dict[str, Any]:
    return {
        "version": 1,
        "name": "a",
        "team_group": "team-a@acme.example",
        "environments": _environments("a", A_DEV_PROJECT),
        "sources": {
            source_dataset: {
                "description": "sales copied from the till system",
                "tables": {
                    "sales": {
                        "columns": {
                            "sale_id": "STRING",
                            "amount": "FLOAT64",
                            "sold_at": "TIMESTAMP",
                        },
                        "seed": "seed/sales.jsonl",
                    }
                },
            }
        },
        "pipelines": {
            "sales_daily": _pipeline(
                "daily_totals", "sql/daily_totals.sql", "mart", "daily_totals", "sales_date"
            )
        },
        "exposes": {
            "mart.daily_totals": {
                "owner": "team-a@acme.example",
                "description": "Sales per day, final after 03:00 UTC the next day",
                "columns": EXPOSED_COLUMNS,
            }
        },
    }


def spec_b() -> dict[str, Any]:
    return {
        "version": 1,
        "name": "b",
        "team_group": "team-b@acme.example",
        "environments": _environments("b", B_DEV_PROJECT),
        "consumes": {
            "a.mart.daily_totals": {
                "environments": {"dev": {"gcp_project": A_DEV_PROJECT, "dataset_prefix": "dev_"}},
                # A copy of the two columns b reads (a subset of a's contract).
                "columns": {c: EXPOSED_COLUMNS[c] for c in ("sales_date", "total")},
                "seed": "seed/a_daily_totals.jsonl",
            }
        },
        "pipelines": {
            "finance_daily": _pipeline(
                "revenue", "sql/revenue.sql", "finance", "revenue", "revenue_date"
            )
        },
    }


SQL = {
    "a": {
        "sql/daily_totals.sql": """\
            SELECT @partition_date AS sales_date, SUM(amount) AS total, COUNT(*) AS sales
            FROM {source}.sales
            WHERE sold_at >= @partition_start AND sold_at < @partition_end
            """,
    },
    "b": {
        "sql/revenue.sql": """\
            -- a's data product, through b's declaration of it (its local copy here).
            SELECT sales_date AS revenue_date, ROUND(total * 0.8, 2) AS net_revenue
            FROM {{ consumes:a.mart.daily_totals }}
            WHERE sales_date = @partition_date
            """,
    },
}


def write_project(folder: Path, spec: dict[str, Any], files: dict[str, str]) -> Path:
    """Write a project: spec, files, Pulumi.yaml, Pulumi.dev.yaml, infra/__main__.py."""
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text))
    (folder / "dayflow.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (folder / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": f"dayflow-{spec['name']}", "main": "infra/", "runtime": "python"})
    )
    dev = spec["environments"]["dev"]
    config = {
        "gcp:project": dev["gcp_project"],
        "dayflow:environment": "dev",
        "dayflow:image": IMAGE,
        "dayflow:schedulerRegion": "europe-west1",
    }
    (folder / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    (folder / "infra").mkdir(exist_ok=True)
    (folder / "infra" / "__main__.py").write_text(MAIN)
    return folder


def write_domains(tmp_path: Path, a_rows: list[dict[str, Any]] | None = None) -> tuple[Path, Path]:
    """Projects `a` and `b` under `tmp_path`; b's seed of its copy of a's table is `a_rows`."""
    source = f"a_src_{uuid.uuid4().hex[:8]}"  # sources are unprefixed: unique per test
    a_files = {k: v.replace("{source}", source) for k, v in SQL["a"].items()}
    a_files["seed/sales.jsonl"] = "".join(json.dumps(r) + "\n" for r in SALES)
    a = write_project(tmp_path / "a", spec_a(source), a_files)
    b_files = dict(SQL["b"])
    b_files["seed/a_daily_totals.jsonl"] = "".join(json.dumps(r) + "\n" for r in a_rows or [])
    b = write_project(tmp_path / "b", spec_b(), b_files)
    return a, b
