"""`dayflow local up|down`."""

from __future__ import annotations

import shutil
from typing import Annotated

import typer

from dayflow.cli.app import local_app
from dayflow.cli.context import SpecOption, console, get_spec
from dayflow.settings import get_settings


@local_app.command("up")
def local_up(
    spec: SpecOption = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Delete local data first")] = False,
    free_ports: Annotated[
        bool,
        typer.Option(
            "--free-ports",
            help="Take free ports chosen by the OS, not the usual 9050/8080/8090 (several "
            "stacks on one machine: two starting at once could both find a usual port free)",
        ),
    ] = False,
) -> None:
    """Start the BigQuery emulator and the job-runner on 127.0.0.1 (data under .dayflow/)."""
    from dayflow.local import stack

    settings = get_settings()
    if fresh:
        stack.down(settings.state_dir)
        shutil.rmtree(settings.state_dir / "bigquery", ignore_errors=True)
    spec_path = spec or settings.spec
    loaded = get_spec(spec_path)
    urls = stack.up(loaded, spec_path, settings.state_dir, free_ports=free_ports)
    for name, url in urls.items():
        console.print(f"[green]up[/] {name}: {url}")


@local_app.command("down")
def local_down() -> None:
    """Stop every process of the local stack."""
    from dayflow.local import stack

    stopped = stack.down(get_settings().state_dir)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
