"""`dayflow seed`: load the declared seed files of source tables, with their declared schemas.

Locally it also loads the seed files of consumed tables (other domains' data products) into
their local copies (`dayflow.spec_domains`); elsewhere those are the producers' tables, never
loaded.

Each table is replaced by one load job (WRITE_TRUNCATE on the plain table id: the local
emulator mistakes a `$` partition decorator for part of the table name, see LOCAL_STACK.md),
so seeding twice leaves one copy. The row count is checked after each load.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dayflow.errors import UserError, WarehouseError

if TYPE_CHECKING:
    from google.cloud import bigquery

    from dayflow.spec import Spec
    from dayflow.spec_sources import SourceTable


@dataclass(frozen=True)
class SeededTable:
    """A table a seed file is loaded into: its dataset id, columns (name: (type, mode)), file."""

    dataset: str
    table: str
    columns: dict[str, tuple[str, str]]
    seed: str


def get_seeded_tables(
    spec: Spec, only: list[str] | None = None, env: str = "local"
) -> dict[str, SeededTable]:
    """The declared tables with a seed file, as `source.table` (and locally consumed tables as
    `domain.dataset.table`), narrowed to `only` if given."""
    from dayflow.spec_domains import get_consumed_ref

    seeded = {
        f"{name}.{table_name}": SeededTable(
            name,
            table_name,
            {c: (t, "NULLABLE") for c, t in table.columns.items()},
            str(table.seed),
        )
        for name, source in spec.sources.items()
        for table_name, table in source.tables.items()
        if table.seed is not None
    }
    if env == "local":
        for key, consumed in spec.consumes.items():
            if consumed.seed is not None:
                _, dataset, table = get_consumed_ref(spec, key, env)
                columns = {
                    c: (col.type, "REQUIRED" if col.required else "NULLABLE")
                    for c, col in consumed.columns.items()
                }
                seeded[key] = SeededTable(dataset, table, columns, consumed.seed)
    if only is None:
        return seeded
    for wanted in only:
        if wanted not in seeded:
            raise UserError(
                f"--table {wanted!r} is not a table with a seed file in env {env!r} "
                f"(expected one of: {', '.join(seeded) or 'none declared'}; consumed tables "
                "are seeded locally only)"
            )
    return {name: seeded[name] for name in dict.fromkeys(only)}


def count_rows(path: Path) -> int:
    """Rows in a seed file: CSV records after the header row, or non-blank JSONL lines."""
    if path.suffix == ".csv":
        with path.open(newline="") as f:
            return max(sum(1 for row in csv.reader(f) if row) - 1, 0)
    with path.open() as f:
        return sum(1 for line in f if line.strip())


def seed_sources(
    spec: Spec,
    env: str,
    client: bigquery.Client,
    only: list[str] | None = None,
) -> dict[str, int]:
    """Load each declared seed file into its source table (replacing it); rows per table.

    Locally the source datasets are created; in dev and prod they exist outside dayflow, and a
    missing one is an error. `only` narrows to tables named `source.table`.
    """
    from google.api_core.exceptions import BadRequest, NotFound
    from google.cloud import bigquery

    project = spec.get_environment(env).gcp_project
    counts: dict[str, int] = {}
    for name, table in get_seeded_tables(spec, only, env).items():
        dataset = table.dataset
        if env == "local":
            client.create_dataset(f"{project}.{dataset}", exists_ok=True)
        path = spec.root / str(table.seed)
        config = bigquery.LoadJobConfig(
            schema=[bigquery.SchemaField(c, t, mode=m) for c, (t, m) in table.columns.items()],
            write_disposition="WRITE_TRUNCATE",
        )
        if path.suffix == ".csv":
            config.source_format = "CSV"
            config.skip_leading_rows = 1
        else:
            config.source_format = "NEWLINE_DELIMITED_JSON"
        table_id = f"{project}.{dataset}.{table.table}"
        try:
            with path.open("rb") as f:
                client.load_table_from_file(f, table_id, job_config=config).result()
        except NotFound as err:
            raise UserError(
                f"cannot load {table_id}: {err.message} (expected source dataset {dataset!r} "
                f"to exist in {project}; dayflow creates sources only locally)"
            ) from None
        except BadRequest as err:
            raise UserError(
                f"cannot load {table.seed} into {table_id}: {err.message} "
                "(expected rows matching the declared columns)"
            ) from None
        expected = count_rows(path)
        rows = client.get_table(table_id).num_rows or 0
        if rows != expected:
            raise WarehouseError(
                f"{table_id} has {rows} rows after loading {table.seed} (expected {expected})",
                transient=False,
            )
        counts[name] = rows
    return counts


def get_source_table(spec: Spec, name: str) -> SourceTable:
    """The declared source table `source.table`; a UserError naming the declared ones if none."""
    dataset, _, table_name = name.partition(".")
    source = spec.sources.get(dataset)
    if source is None or table_name not in source.tables:
        declared = [f"{d}.{t}" for d, s in spec.sources.items() for t in s.tables]
        raise UserError(
            f"{name!r} is not a declared source table "
            f"(expected one of: {', '.join(declared) or 'none declared'})"
        )
    return source.tables[table_name]


def load_source_rows(
    spec: Spec,
    env: str,
    client: bigquery.Client,
    name: str,
    rows: list[dict[str, Any]],
    *,
    append: bool = False,
) -> int:
    """Load `rows` into the declared source table `name` (`source.table`), replacing its rows
    (or appending to them); return the table's row count after the load.

    Each row's keys must be declared columns (a missing column loads as NULL); values are
    JSON values, or dates, datetimes and Decimals (sent as their ISO/decimal text). Locally the
    source dataset is created.
    """
    from google.api_core.exceptions import BadRequest

    table = get_source_table(spec, name)
    for number, row in enumerate(rows, 1):
        unknown = [column for column in row if column not in table.columns]
        if unknown:
            raise UserError(
                f"row {number} for {name}: unknown column(s) {', '.join(map(repr, unknown))} "
                f"(expected columns of {name}: {', '.join(table.columns)})"
            )
    project = spec.get_environment(env).gcp_project
    if env == "local":
        client.create_dataset(f"{project}.{name.partition('.')[0]}", exists_ok=True)
    table_id = f"{project}.{name}"
    config = _load_config(table, "WRITE_APPEND" if append else "WRITE_TRUNCATE")
    config.source_format = "NEWLINE_DELIMITED_JSON"
    before = 0
    if append:
        before = _count_rows(client, table_id)
    try:
        client.load_table_from_json(
            [{k: _to_json(v) for k, v in row.items()} for row in rows], table_id, job_config=config
        ).result()
    except BadRequest as err:
        raise UserError(
            f"cannot load rows into {table_id}: {err.message} "
            "(expected rows matching the declared columns)"
        ) from None
    after, expected = _count_rows(client, table_id), before + len(rows)
    if after != expected:
        raise WarehouseError(
            f"{table_id} has {after} rows after loading {len(rows)} (expected {expected})",
            transient=False,
        )
    return after


def _load_config(table: SourceTable, write_disposition: str) -> bigquery.LoadJobConfig:
    from google.cloud import bigquery

    return bigquery.LoadJobConfig(
        schema=[bigquery.SchemaField(c, t) for c, t in table.columns.items()],
        write_disposition=write_disposition,
    )


def _count_rows(client: bigquery.Client, table_id: str) -> int:
    from google.api_core.exceptions import NotFound

    try:
        return client.get_table(table_id).num_rows or 0
    except NotFound:
        return 0


def _to_json(value: Any) -> Any:
    """A row value as a load job's JSON takes it: dates and times as ISO text, Decimals as text
    (exact for NUMERIC)."""
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
