"""The Typer application that every `dayflow` command module registers on."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

app = typer.Typer(
    name="dayflow",
    help="Date-partitioned data pipelines on Google Cloud: runs, backfills and a local stack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
local_app = typer.Typer(help="Start and stop the local stack (no GCP account needed).")
app.add_typer(local_app, name="local")


def get_version() -> str:
    """The installed dayflow distribution's version ("unknown" when run from a bare source tree)."""
    try:
        return version("dayflow")
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        print(f"dayflow {get_version()}")
        raise typer.Exit


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    """Date-partitioned data pipelines on Google Cloud: runs, backfills and a local stack."""
