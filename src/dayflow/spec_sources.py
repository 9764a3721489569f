"""Source datasets in the spec: datasets that exist outside dayflow, and their declared tables.

A source may declare its tables' column schemas and a seed file (CSV with a header row, or
JSONL) that `dayflow seed` loads into it (dayflow.seed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from dayflow.errors import UserError
from dayflow.warehouse import validate_identifier

if TYPE_CHECKING:
    from dayflow.spec import Spec

# BigQuery's standard SQL type names for a table column (aliases included), as a load job's
# schema takes them: https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types
COLUMN_TYPES = (
    "STRING",
    "INT64",
    "INTEGER",
    "FLOAT64",
    "FLOAT",
    "NUMERIC",
    "BIGNUMERIC",
    "BOOL",
    "BOOLEAN",
    "DATE",
    "TIMESTAMP",
    "DATETIME",
    "TIME",
    "JSON",
    "BYTES",
)
SEED_FORMATS = (".csv", ".jsonl")


def _check_identifier(value: str) -> str:
    try:
        return validate_identifier(value, "name")
    except UserError as err:  # pydantic reports ValueError with the field path
        raise ValueError(str(err)) from None


def _check_column_type(value: str) -> str:
    if value.upper() not in COLUMN_TYPES:
        raise ValueError(
            f"unknown BigQuery type {value!r} (expected one of: {', '.join(COLUMN_TYPES)})"
        )
    return value.upper()


def _check_seed(value: str) -> str:
    if not value.endswith(SEED_FORMATS):
        raise ValueError(
            f"seed file {value!r} has an unknown format (expected a .csv or .jsonl file)"
        )
    return value


Name = Annotated[str, AfterValidator(_check_identifier)]
ColumnType = Annotated[str, AfterValidator(_check_column_type)]
SeedFile = Annotated[str, AfterValidator(_check_seed)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceTable(_Model):
    """A table of a source dataset: its columns (name: BigQuery type) and an optional seed file."""

    columns: dict[Name, ColumnType] = Field(min_length=1)
    # A file next to the spec that `dayflow seed` loads into the table, replacing it.
    seed: SeedFile | None = None


class Source(_Model):
    """A dataset that exists outside dayflow (loaded by another system) and that jobs read.

    Each environment reads it in its own `gcp_project`, under its own name (no dataset
    prefix). Infra grants read access on it and never creates nor deletes it.
    """

    description: str = Field(min_length=1)
    tables: dict[Name, SourceTable] = Field(default_factory=dict)


def check_sources(spec: Spec) -> list[str]:
    """Seed files exist next to the spec. Returns problem lines."""
    problems = []
    for name, source in spec.sources.items():
        for table_name, table in source.tables.items():
            if table.seed is not None and not (spec.root / table.seed).is_file():
                problems.append(
                    f"sources.{name}.tables.{table_name}.seed: file {table.seed!r} not found"
                )
    return problems
