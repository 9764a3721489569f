"""`score_customers`: a `cloud_run_job` of shop_daily, the shop's own code run per partition.

For the partition's day it reads the day's orders from staging.stg_orders, computes each
customer's score in Python (deterministic: the same orders always give the same scores), and
replaces exactly that day's partition of mart.customer_scores in one transaction (DELETE the
day, INSERT its rows): a rerun leaves one run's rows, whatever ran before.

It reads what dayflow gives every cloud_run_job (see the README, "The cloud_run_job kind"):
DAYFLOW_GCP_PROJECT, DAYFLOW_DATASET_PREFIX, DAYFLOW_BIGQUERY_LOCATION, DAYFLOW_PARTITION_DATE,
DAYFLOW_DESTINATION_TABLE, DAYFLOW_RUN_ID and, locally, DAYFLOW_BIGQUERY_ENDPOINT (the emulator,
no credentials). In GCP it runs as its own service account, which may read staging and write
mart, nothing else. Exit code 0 is success; any failure raises (exit code 1), and Cloud Run's
task retries (`max_retries`) retry it, e.g. after BigQuery aborted a concurrent transaction.
"""

from __future__ import annotations

import math
import os
import sys
from datetime import date

from google.cloud import bigquery

SCHEMA = """
  score_date DATE NOT NULL,
  customer_id STRING NOT NULL,
  orders INT64 NOT NULL,
  revenue NUMERIC NOT NULL,
  score FLOAT64 NOT NULL
"""


def make_client() -> bigquery.Client:
    project = os.environ["DAYFLOW_GCP_PROJECT"]
    location = os.environ.get("DAYFLOW_BIGQUERY_LOCATION")
    endpoint = os.environ.get("DAYFLOW_BIGQUERY_ENDPOINT")
    if not endpoint:  # GCP: the job's own service account, from the metadata server
        return bigquery.Client(project=project, location=location)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def score(orders: int, revenue: float) -> float:
    """More orders and more revenue score higher; revenue counts on a log scale."""
    return round(5.0 * orders + 10.0 * math.log10(1.0 + revenue), 3)


def main() -> int:
    day = date.fromisoformat(os.environ["DAYFLOW_PARTITION_DATE"])
    destination = os.environ["DAYFLOW_DESTINATION_TABLE"]
    staging = f"{os.environ['DAYFLOW_GCP_PROJECT']}.{os.environ['DAYFLOW_DATASET_PREFIX']}staging"
    client = make_client()
    day_param = bigquery.ScalarQueryParameter("day", "DATE", day)

    orders = client.query_and_wait(
        f"""
        SELECT customer_id, COUNT(*) AS orders, SUM(amount) AS revenue
        FROM `{staging}.stg_orders`
        WHERE order_date = @day AND status != 'cancelled'
        GROUP BY customer_id
        """,
        job_config=bigquery.QueryJobConfig(query_parameters=[day_param]),
    )
    rows = [
        bigquery.StructQueryParameter(
            None,
            bigquery.ScalarQueryParameter("customer_id", "STRING", r["customer_id"]),
            bigquery.ScalarQueryParameter("orders", "INT64", r["orders"]),
            bigquery.ScalarQueryParameter("revenue", "NUMERIC", r["revenue"]),
            bigquery.ScalarQueryParameter(
                "score", "FLOAT64", score(int(r["orders"]), float(r["revenue"]))
            ),
        )
        for r in orders
    ]

    client.query_and_wait(
        f"CREATE TABLE IF NOT EXISTS `{destination}` ({SCHEMA}) PARTITION BY score_date "
        "OPTIONS (require_partition_filter = TRUE)"
    )
    insert = (
        f"INSERT INTO `{destination}` (score_date, customer_id, orders, revenue, score) "
        "SELECT @day, r.customer_id, r.orders, r.revenue, r.score FROM UNNEST(@rows) AS r;"
        if rows
        else ""
    )
    params: list[bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter] = [day_param]
    if rows:
        params.append(bigquery.ArrayQueryParameter("rows", "STRUCT", rows))
    client.query_and_wait(
        f"BEGIN TRANSACTION; DELETE FROM `{destination}` WHERE score_date = @day; {insert} "
        "COMMIT TRANSACTION;",
        job_config=bigquery.QueryJobConfig(query_parameters=params),
    )
    print(f"{os.environ.get('DAYFLOW_RUN_ID')}: scored {len(rows)} customers on {day}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
