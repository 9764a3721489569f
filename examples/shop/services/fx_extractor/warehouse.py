"""Writes one day of rates into its partition of the destination table, idempotently.

One BigQuery multi-statement transaction deletes the day's rows and inserts the new ones, so a
rerun, a retry after a crash, or calls running side by side leave exactly one call's rows
(https://cloud.google.com/bigquery/docs/transactions). BigQuery aborts one of two transactions
that touch the same table at once; the aborted one is retried here with jittered backoff. The
local emulator does not isolate concurrent transactions reliably, so writes to a table are also
serialized within this process (one process serves the example locally).
"""

from __future__ import annotations

import functools
import os
import random
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from .rates import Rate

if TYPE_CHECKING:
    from google.cloud import bigquery

ABORT_RETRIES = 5
_table_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_lock = threading.Lock()


class TransientWriteError(Exception):
    """BigQuery was unavailable or kept aborting the transaction: the caller may retry."""


class DestinationError(Exception):
    """The destination cannot be written (a missing dataset): retrying will not help."""


@functools.cache
def get_client(project: str) -> bigquery.Client:
    """A client for `project`; locally for the emulator at BIGQUERY_EMULATOR_HOST (no auth)."""
    from google.cloud import bigquery

    emulator = os.environ.get("BIGQUERY_EMULATOR_HOST")
    if not emulator:
        return bigquery.Client(project=project)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=emulator),
    )


def replace_partition(
    client: bigquery.Client, table_id: str, partition_field: str, rates: list[Rate]
) -> int:
    """Replace the rows of `rates[0].rate_date` in `table_id` (project.dataset.table, validated
    by the caller) with `rates`; return the number of rows written."""
    from google.api_core import exceptions
    from google.cloud import bigquery

    ensure_table(client, table_id, partition_field)
    values = ", ".join(f"(@day, @base_{i}, @quote_{i}, @rate_{i})" for i in range(len(rates)))
    sql = (
        "BEGIN TRANSACTION;\n"
        f"DELETE FROM `{table_id}` WHERE {partition_field} = @day;\n"
        f"INSERT INTO `{table_id}` ({partition_field}, base_currency, quote_currency, rate) "
        f"VALUES {values};\n"
        "COMMIT TRANSACTION;"
    )
    params: list[bigquery.ScalarQueryParameter] = [
        bigquery.ScalarQueryParameter("day", "DATE", rates[0].rate_date)
    ]
    for i, r in enumerate(rates):
        params += [
            bigquery.ScalarQueryParameter(f"base_{i}", "STRING", r.base_currency),
            bigquery.ScalarQueryParameter(f"quote_{i}", "STRING", r.quote_currency),
            bigquery.ScalarQueryParameter(f"rate_{i}", "FLOAT64", r.rate),
        ]
    config = bigquery.QueryJobConfig(query_parameters=params)
    for attempt in range(ABORT_RETRIES + 1):
        try:
            with _lock(table_id):
                client.query_and_wait(sql, job_config=config)
            return len(rates)
        except exceptions.NotFound as err:
            raise DestinationError(f"{table_id}: {err.message}") from err
        except (exceptions.ServerError, exceptions.TooManyRequests) as err:
            error: Exception = err
        except exceptions.BadRequest as err:
            if not _is_aborted(err):
                raise
            error = err
        if attempt < ABORT_RETRIES:
            time.sleep(random.uniform(0, 0.2 * 2**attempt))  # noqa: S311 (jitter, not crypto)
    raise TransientWriteError(f"{table_id}: {error}")


def ensure_table(client: bigquery.Client, table_id: str, partition_field: str) -> None:
    """Create the day-partitioned table if it does not exist yet (its dataset must)."""
    from google.api_core import exceptions
    from google.cloud import bigquery

    table = bigquery.Table(
        table_id,
        schema=[
            bigquery.SchemaField(partition_field, "DATE", mode="REQUIRED"),
            bigquery.SchemaField("base_currency", "STRING", mode="REQUIRED"),
            bigquery.SchemaField("quote_currency", "STRING", mode="REQUIRED"),
            bigquery.SchemaField("rate", "FLOAT64", mode="REQUIRED"),
        ],
    )
    table.time_partitioning = bigquery.TimePartitioning(field=partition_field)
    table.require_partition_filter = True
    try:
        with _lock(table_id):
            client.create_table(table, exists_ok=True)
    except exceptions.NotFound as err:
        raise DestinationError(f"{table_id}: {err.message} (the dataset must exist)") from err
    except exceptions.Conflict:
        pass  # another instance created it meanwhile


# BigQuery reports a transaction aborted by a concurrent one as a 400 whose only mark is its
# message (as does the emulator, DuckLake underneath): the same markers dayflow's job-runner uses.
_ABORT_MARKERS = (
    "concurrent update",
    "transaction is aborted",
    "could not serialize access",
    "failed to commit ducklake transaction",
    "conflict on",
)


def _is_aborted(err: Exception) -> bool:
    text = str(err).lower()
    return any(marker in text for marker in _ABORT_MARKERS)


def _lock(table_id: str) -> threading.Lock:
    with _locks_lock:
        return _table_locks[table_id]
