"""The DuckDB extensions that the BigQuery emulator (local-bigquery) loads at start-up.

local-bigquery would download them from DuckDB's servers on first use, which fails offline (and
then every dataset fails with "the icu extension ... could not be autoloaded"). The `local` extra
installs them as wheels (`duckdb-extension-*`); `install_extensions` copies them into DuckDB's
extension directory (`$HOME/.duckdb`) before the emulator starts, so an installed dayflow needs
no network and no setup step of a repository's Makefile. Installing is idempotent (about 0.1 s).
"""

from __future__ import annotations

from dayflow.errors import DayflowError

EXTENSIONS = ("ducklake", "icu", "json", "parquet", "spatial")


def install_extensions() -> None:
    """Install `EXTENSIONS` from their wheels into DuckDB's extension directory."""
    try:
        from duckdb_extensions import import_extension  # type: ignore[import-untyped]  # no py.typed
    except ModuleNotFoundError as err:
        raise DayflowError(
            "the local stack needs dayflow's `local` extra (no module duckdb_extensions; "
            "expected `pip install 'dayflow[local]'`)"
        ) from err
    for name in EXTENSIONS:
        import_extension(name)
