"""Two domain projects scaffolded by `dayflow init`: `sales` exposes a table, `finance`
consumes it.

Each starts as `dayflow init DIR --domain NAME` writes it (spec, SQL, seed, Pulumi stack,
`infra/__main__.py` calling `dayflow.infra`); then each team declares its side of the data
product, as the README's "Many domains" shows: `sales` its team group and `exposes`, `finance`
its `consumes` and a job reading it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from dayflow.scaffold import create_project

PRODUCER, CONSUMER = "sales", "finance"
PRODUCER_DEV, PRODUCER_PROD = "sales-dev", "sales-prod"  # the scaffold's GCP project ids
EXPOSED = "mart.daily_events"  # the scaffolded job's destination, exposed by sales
CONSUMED = f"{PRODUCER}.{EXPOSED}"
EXPOSED_COLUMNS: dict[str, dict[str, Any]] = {
    "event_date": {"type": "DATE", "required": True, "description": "day of the events (UTC)"},
    "event_type": {"type": "STRING", "required": True, "description": "purchase or refund"},
    "events": {"type": "INT64", "required": True, "description": "events that day"},
    "customers": {"type": "INT64", "description": "distinct customers that day"},
    "amount": {"type": "FLOAT64", "description": "sum of amounts, EUR"},
}
CONSUMER_SQL = """\
-- The sales domain's data product, through finance's declaration of it (locally: its copy).
SELECT event_date, event_type, ROUND(amount * 0.8, 2) AS net_amount
FROM {{ consumes:sales.mart.daily_events }}
WHERE event_date = @partition_date
"""


def scaffold(folder: Path, domain: str, via_cli: bool) -> Path:
    """`dayflow init folder --domain domain`, through the CLI or its function."""
    if via_cli:
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from dayflow.cli import main; main()",
                "init",
                str(folder),
                "--domain",
                domain,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    else:
        create_project(folder, domain)
    return folder


def _edit_spec(folder: Path, change: Any) -> None:
    path = folder / "dayflow.yaml"
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def _isolate(raw: dict[str, Any], folder: Path) -> None:
    """Own local datasets in the shared emulator: a unique prefix, and a unique name for the
    (unprefixed) source dataset."""
    raw["environments"]["local"]["dataset_prefix"] = f"{raw['name']}{uuid.uuid4().hex[:8]}_"
    source = f"{raw['name']}_raw_{uuid.uuid4().hex[:8]}"
    raw["sources"] = {source: raw["sources"].pop("raw")}
    sql = folder / "transform" / "sql" / "daily_events.sql"
    sql.write_text(sql.read_text().replace("FROM raw.events", f"FROM {source}.events"))


def write_domains(tmp_path: Path, *, via_cli: bool = False) -> tuple[Path, Path]:
    """The producer (`sales`) and consumer (`finance`) projects under `tmp_path`."""
    sales = scaffold(tmp_path / PRODUCER, PRODUCER, via_cli)
    finance = scaffold(tmp_path / CONSUMER, CONSUMER, via_cli)
    declare_domains(sales, finance)
    return sales, finance


def declare_domains(sales: Path, finance: Path) -> None:
    """Each team's side of the data product, in projects as `dayflow init` wrote them."""

    def expose(raw: dict[str, Any]) -> None:
        _isolate(raw, sales)
        raw["team_group"] = "sales-team@acme.example"
        raw["exposes"] = {
            EXPOSED: {
                "owner": "sales-team@acme.example",
                "description": "Events per day and type, final after 02:00 UTC the next day",
                "columns": EXPOSED_COLUMNS,
            }
        }

    _edit_spec(sales, expose)

    (finance / "transform" / "sql" / "daily_events.sql").write_text(CONSUMER_SQL)
    (finance / "transform" / "seed" / "sales_daily_events.jsonl").write_text("")

    def consume(raw: dict[str, Any]) -> None:
        _isolate(raw, finance)
        raw["team_group"] = "finance-team@acme.example"
        raw["consumes"] = {
            CONSUMED: {
                "environments": {
                    "dev": {"gcp_project": PRODUCER_DEV, "dataset_prefix": "dev_"},
                    "prod": {"gcp_project": PRODUCER_PROD},
                },
                # The copy of the columns finance reads (a subset of the contract).
                "columns": {c: EXPOSED_COLUMNS[c] for c in ("event_date", "event_type", "amount")},
                # As the producer partitions it: local queries need the filter, as in BigQuery.
                "partition_field": "event_date",
                "require_partition_filter": True,
                "seed": "transform/seed/sales_daily_events.jsonl",
            }
        }
        (job,) = raw["pipelines"]["finance_daily"]["jobs"].values()
        job["destination"] = {
            "dataset": "mart",
            "table": "net_revenue",
            "partition_field": "event_date",
        }

    _edit_spec(finance, consume)


def write_consumer_seed(finance: Path, rows: list[dict[str, Any]]) -> None:
    """finance's sample of the sales table: `rows` (JSON values) as its seed file."""
    seed = finance / "transform" / "seed" / "sales_daily_events.jsonl"
    seed.write_text("".join(json.dumps(r) + "\n" for r in rows))
