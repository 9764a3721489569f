"""A fresh semantic layer (orders and customers) in the BigQuery emulator, and how to read marts.

Each layer has its own dataset prefix, so tests never see each other's marts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from google.cloud import bigquery

from dayflow.partitions import PartitionScheme
from dayflow.transforms.partition_vars import PartitionVars
from dayflow.warehouse import make_bigquery_client

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "project"
SCHEME = PartitionScheme("day", "Europe/Stockholm")

_ORDERS_DDL = """
CREATE TABLE `{p}semantic.orders` (
  order_id STRING, customer_id STRING, status STRING, amount FLOAT64, currency STRING,
  updated_at TIMESTAMP, event_date DATE, message_id STRING, publish_time TIMESTAMP
) PARTITION BY event_date OPTIONS (require_partition_filter = TRUE)
"""
_CUSTOMERS_DDL = """
CREATE TABLE `{p}semantic.customers` (
  customer_id STRING, name STRING, country STRING, segment STRING,
  updated_at TIMESTAMP, event_date DATE, message_id STRING, publish_time TIMESTAMP
) PARTITION BY event_date OPTIONS (require_partition_filter = TRUE)
"""

# (order_id, customer_id, status, amount, currency, event_date)
ORDERS = [
    ("o01", "c1", "paid", 10.5, "SEK", "2024-01-05"),
    ("o02", "c1", "shipped", 4.0, "SEK", "2024-01-05"),
    ("o03", "c2", "placed", 20.25, "SEK", "2024-01-05"),
    ("o04", "c1", "cancelled", 99.0, "SEK", "2024-01-05"),
    ("o05", "c3", "shipped", 7.1, "EUR", "2024-01-05"),
    ("o06", "c9", "paid", 3.3, "SEK", "2024-01-05"),  # c9 has no profile
    ("o07", "c4", "paid", 1.25, None, "2024-01-05"),
    ("o08", "c2", "paid", 5.0, "EUR", "2024-01-06"),
    ("o09", "c1", "paid", 2.5, "SEK", "2024-01-06"),
]
# (customer_id, country, segment, event_date): c1 turns business on 2024-01-06.
CUSTOMERS = [
    ("c1", "SE", "consumer", "2023-12-01"),
    ("c2", "SE", "business", "2023-12-01"),
    ("c3", "DK", None, "2023-12-01"),
    ("c4", "NO", "consumer", "2024-01-05"),
    ("c1", "SE", "business", "2024-01-06"),
]
# The mart of 2024-01-05: (country, segment, currency, orders, customers, revenue).
EXPECTED_2024_01_05 = [
    ("DK", "unknown", "EUR", 1, 1, Decimal("7.1")),
    ("NO", "consumer", "unknown", 1, 1, Decimal("1.25")),
    ("SE", "business", "SEK", 1, 1, Decimal("20.25")),
    ("SE", "consumer", "SEK", 2, 1, Decimal("14.5")),
    ("unknown", "unknown", "SEK", 1, 1, Decimal("3.3")),
]


@dataclass
class Semantic:
    """A semantic layer under its own dataset prefix in the emulator."""

    endpoint: str
    prefix: str
    client: bigquery.Client

    def query(self, sql: str, **params: Any) -> list[bigquery.Row]:
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter(k, "DATE" if isinstance(v, date) else "STRING", v)
                for k, v in params.items()
            ]
        )
        return list(self.client.query_and_wait(sql.format(p=self.prefix), job_config=config))

    def add_order(self, order_id: str, status: str, event_date: str, amount: float = 1.0) -> None:
        self.query(
            "INSERT INTO `{p}semantic.orders` VALUES "
            f"('{order_id}', 'c2', '{status}', {amount}, 'SEK', TIMESTAMP '{event_date} 12:00:00+00',"
            f" DATE '{event_date}', 'm-{order_id}', TIMESTAMP '{event_date} 12:00:01+00')"
        )

    def mart_rows(self, table: str, partition_key: str) -> list[tuple[Any, ...]]:
        rows = self.query(
            f"SELECT country, segment, currency, orders, customers, revenue "
            f"FROM `{{p}}mart.{table}` WHERE sales_date = @d ORDER BY 1, 2, 3",
            d=date.fromisoformat(partition_key),
        )
        return [tuple(row.values()) for row in rows]

    def checksum(self, table: str, partition_key: str) -> int:
        """A fingerprint of the partition's rows, in a fixed order."""
        rows = self.query(
            "SELECT FARM_FINGERPRINT(STRING_AGG(TO_JSON_STRING(t), '\\n' "
            "ORDER BY country, segment, currency)) AS fp, COUNT(*) AS n "
            f"FROM `{{p}}mart.{table}` AS t WHERE sales_date = @d",
            d=date.fromisoformat(partition_key),
        )
        assert rows[0]["n"] > 0, f"{table} has no rows for {partition_key}"
        return int(rows[0]["fp"])


def _literal(value: str | None) -> str:
    return f"'{value}'" if value is not None else "NULL"


def create_semantic(endpoint: str) -> Semantic:
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    client = make_bigquery_client("local", endpoint)
    client.create_dataset(f"local.{prefix}semantic")
    layer = Semantic(endpoint, prefix, client)
    layer.query(_ORDERS_DDL)
    layer.query(_CUSTOMERS_DDL)
    layer.query(
        "INSERT INTO `{p}semantic.orders` VALUES "
        + ", ".join(
            f"('{o}', '{c}', '{s}', {a}, {_literal(cur)}, "
            f"TIMESTAMP '{d} 10:00:00+00', DATE '{d}', 'm-{o}', TIMESTAMP '{d} 10:00:01+00')"
            for o, c, s, a, cur, d in ORDERS
        )
    )
    layer.query(
        "INSERT INTO `{p}semantic.customers` VALUES "
        + ", ".join(
            f"('{c}', 'Customer {c}', '{country}', {_literal(seg)}, "
            f"TIMESTAMP '{d} 08:00:00+00', DATE '{d}', 'n-{c}-{d}', TIMESTAMP '{d} 08:00:01+00')"
            for c, country, seg, d in CUSTOMERS
        )
    )
    return layer


def partition(key: str) -> PartitionVars:
    return PartitionVars.for_partition(SCHEME, key)
