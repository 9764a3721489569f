"""`dayflow seed [--env local|dev|prod] [--table raw.orders ...] [--yes]`."""

from __future__ import annotations

from typing import Annotated

import typer

from dayflow.cli.app import app
from dayflow.cli.context import EnvOption, SpecOption, console, get_env, get_spec
from dayflow.errors import UserError
from dayflow.settings import get_settings


@app.command()
def seed(
    table: Annotated[
        list[str] | None,
        typer.Option("--table", help="Only this source table, e.g. raw.orders (repeatable)"),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Really replace the tables in dev or prod")
    ] = False,
    spec: SpecOption = None,
    env: EnvOption = None,
) -> None:
    """Load the source tables' declared seed files (replacing the tables): locally into the
    local stack's emulator; in dev or prod only with --yes."""
    from dayflow.seed import get_seeded_tables, seed_sources
    from dayflow.warehouse import make_bigquery_client

    loaded = get_spec(spec)
    environment = get_env(env)
    get_seeded_tables(
        loaded, table, environment
    )  # bad --table names fail before anything is touched
    if environment != "local" and not yes:
        raise UserError(
            f"seeding {environment} replaces its source tables (expected --yes to confirm)"
        )
    target = loaded.get_environment(environment)
    endpoint = None
    if environment == "local":
        from dayflow.local.stack import get_stack

        endpoint = get_stack(get_settings().state_dir)["bigquery_endpoint"]
    with make_bigquery_client(target.gcp_project, endpoint, location=target.region) as client:
        counts = seed_sources(loaded, environment, client, table)
    for name, rows in counts.items():
        console.print(f"seeded {name}: {rows} rows")
