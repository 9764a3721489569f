"""The Typer application that every `dayflow` command module registers on."""

from __future__ import annotations

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
