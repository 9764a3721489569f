"""`dayflow publish TOPIC --file events.jsonl [--rate N] [--env local] [--wait]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dayflow.cli.app import app
from dayflow.cli.context import EnvOption, SpecOption, console, get_env, get_spec
from dayflow.errors import UserError
from dayflow.settings import get_settings


@app.command()
def publish(
    topic: Annotated[str, typer.Argument(help="A topic of the spec, e.g. orders")],
    file: Annotated[Path, typer.Option("--file", "-f", help="JSONL: one event per line")],
    rate: Annotated[
        float | None, typer.Option("--rate", help="At most this many events per second")
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait until every event is in the ingest or dead-letter table"),
    ] = False,
    spec: SpecOption = None,
    env: EnvOption = None,
) -> None:
    """Publish sample or replayed events to a topic (locally: through the Pub/Sub emulator, or
    straight to the ingest function when the emulator is absent)."""
    from dayflow.publish import get_publish_target, open_publisher, publish_events, read_events

    loaded = get_spec(spec)
    environment = get_env(env)
    if topic not in loaded.topics:
        raise UserError(
            f"unknown topic {topic!r} (expected one of: {', '.join(loaded.topics) or 'none'})"
        )
    if rate is not None and rate <= 0:
        raise UserError(f"--rate {rate:g} is not positive (expected events per second)")
    events = read_events(file)
    target = get_publish_target(loaded, environment, get_settings().state_dir)
    if target.notice:
        console.print(f"[yellow]note[/] {target.notice}")
    publisher = open_publisher(target)
    columns = (
        TextColumn(f"{topic}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("publish", total=len(events))
            result = publish_events(
                publisher,
                topic,
                events,
                rate=rate,
                on_published=lambda n: progress.advance(task, n),
            )
    finally:
        publisher.close()
    console.print(f"published {result.published} events to {topic} ({target.mode})")
    if wait:
        from dayflow.publish import wait_until_stored

        waited = wait_until_stored(loaded, environment, topic, result, target)
        console.print(
            f"stored: {waited.ingested} in the ingest table, {waited.dead_lettered} dead-lettered"
        )
