"""`dayflow init DIR [--domain NAME]`: scaffold a new domain's project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dayflow.cli.app import app
from dayflow.cli.context import console


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The new project's directory (new or empty)")],
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain",
            help="The domain's name: the spec's `name` (default: the directory's name, "
            "lower case, '-' as '_')",
        ),
    ] = None,
) -> None:
    """Write a new project: spec, SQL, seed, tests, Pulumi stack, Dockerfile, CI and README."""
    from dayflow.scaffold import create_project

    scaffold = create_project(directory, domain)
    console.print(
        f"[green]created[/] {directory} for domain {scaffold.domain!r} "
        f"(dayflow {scaffold.dayflow_version}, {len(scaffold.files)} files). Next:\n"
        f"  cd {directory}\n"
        "  python3.13 -m venv .venv && source .venv/bin/activate\n"
        "  pip install -r requirements.txt\n"
        "  dayflow local up && dayflow seed\n"
        f"  dayflow run {scaffold.pipeline_name} --partition 2024-01-02"
    )
