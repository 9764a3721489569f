"""`dayflow local up|down`."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from dayflow.cli.app import local_app
from dayflow.cli.context import SpecOption, console, get_spec
from dayflow.cli.output import plain
from dayflow.settings import get_settings


@local_app.command("up")
def local_up(
    spec: SpecOption = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="Delete local data first (tables, run ledger, Workflows executions)"
        ),
    ] = False,
    free_ports: Annotated[
        bool,
        typer.Option(
            "--free-ports",
            help="Take free ports chosen by the OS, not the usual 9050/8080/8090 (several "
            "stacks on one machine: two starting at once could both find a usual port free)",
        ),
    ] = False,
) -> None:
    """Start the BigQuery emulator, the job-runner, the Workflows engine, the scheduler and the
    ingest path on 127.0.0.1. Data under .dayflow/ is kept across restarts unless --fresh is
    given (the scheduler's jobs, paused until `dayflow schedule resume`, keep their state)."""
    from dayflow.local import stack

    settings = get_settings()
    spec_path = spec or settings.spec
    loaded = get_spec(spec_path)
    if fresh:
        stack.down(settings.state_dir)
        stack.erase(settings.state_dir)
    started = time.monotonic()
    with console.status("starting the local stack") as status:
        step: list[tuple[str, float]] = []

        def on_step(name: str) -> None:
            now = time.monotonic()
            if step:
                _print_done(*step[-1], now)
            step.append((name, now))
            status.update(f"starting {name}")

        urls = stack.up(
            loaded, spec_path, settings.state_dir, free_ports=free_ports, on_step=on_step
        )
        if step:
            _print_done(*step[-1], time.monotonic())
    console.print(f"local stack up in {time.monotonic() - started:.1f} s")
    for name, url in urls.items():
        console.print(plain(f"  {name}: {url}"))
    console.print(plain(f"status page: {urls['job_runner_url']}/ui (or: dayflow ui)"))


def _print_done(name: str, began: float, now: float) -> None:
    console.print(f"[green]✔[/] {name} ({now - began:.1f} s)")


@local_app.command("down")
def local_down() -> None:
    """Stop every process of the local stack (its data stays under .dayflow/)."""
    from dayflow.local import stack

    stopped = stack.down(get_settings().state_dir)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
