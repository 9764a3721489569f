"""`dayflow status [P] [--start A --end B] [--errors] [--json]`: each pipeline's freshness
(dayflow.freshness), or one pipeline's freshness above the ledger's grid of partitions x jobs and
the error of every failed cell (cut to one line; whole with `--errors`). Without a range, the
grid shows the newest week of a daily pipeline, the newest day of an hourly one.

For an hourly pipeline, a bound may be a local day: `--start 2024-03-10 --end 2024-03-11` covers
every hour of both days (23 and 24 of them across the DST change), cut to the hours the pipeline
has (from its `start` to the partition containing now).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from dayflow.cli.app import app
from dayflow.cli.context import (
    EnvOption,
    ImpersonateOption,
    SpecOption,
    console,
    get_job_runner,
    get_spec,
)
from dayflow.cli.output import plain, print_json, shorten
from dayflow.cli.styles import ERROR_STATES, STATUS_STYLE, WAITING_STATES
from dayflow.errors import UserError
from dayflow.freshness import format_age
from dayflow.partition_bounds import get_default_range, get_partition_bounds
from dayflow.partitions import PartitionKeyRange
from dayflow.spec import Pipeline

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@app.command()
def status(
    pipeline: Annotated[
        str | None, typer.Argument(help="Pipeline name (default: every pipeline's freshness)")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="First partition key, inclusive (hourly pipelines: or a day)"),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Last partition key, inclusive (hourly pipelines: or a day)"),
    ] = None,
    errors: Annotated[
        bool, typer.Option("--errors", help="Show each failed cell's error in full")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the grid as JSON")] = False,
    spec_path: SpecOption = None,
    env: EnvOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    """Freshness per pipeline; for one pipeline also a grid of partitions x jobs, coloured by
    the run ledger's newest status."""
    spec = get_spec(spec_path)
    if pipeline is None:
        if start or end:
            raise UserError("--start and --end need a pipeline (dayflow status PIPELINE ...)")
        with get_job_runner(env, impersonate, spec_path) as client:
            freshness = client.get_freshness()
        if as_json:
            print_json({"pipelines": freshness})
        else:
            show_freshness(freshness)
        return
    spec_pipeline = spec.get_pipeline(pipeline)
    key_range = get_status_range(pipeline, spec_pipeline, start, end)
    with get_job_runner(env, impersonate, spec_path) as client:
        [pipeline_freshness] = client.get_freshness(pipeline)
        grid = client.get_status(pipeline, key_range.start, key_range.end)
    if as_json:
        print_json(
            {**grid, "start": key_range.start, "end": key_range.end,
             "freshness": pipeline_freshness}
        )  # fmt: skip
        return
    show_freshness([pipeline_freshness])
    show_grid(grid, f"{pipeline}: {key_range.start} .. {key_range.end}")
    show_errors(grid, full=errors)


def get_status_range(
    pipeline_name: str, pipeline: Pipeline, start: str | None, end: str | None
) -> PartitionKeyRange:
    """The key range to show. For an hourly pipeline a day bound means its first (start) or last
    (end) hour, cut to the pipeline's partitions; a key is taken as it is. Without bounds: the
    newest week of a daily pipeline, the newest 24 hours of an hourly one."""
    if (start is None) != (end is None):
        raise UserError("give both --start and --end, or neither (the newest partitions)")
    bounds = get_partition_bounds(pipeline_name, pipeline)
    if start is None or end is None:
        start, end = get_default_range(pipeline.scheme, datetime.now(UTC), pipeline.start)
    if pipeline.granularity == "hour":
        if _DAY.match(start):
            start = max(f"{start}T00", bounds.first)
        if _DAY.match(end):
            end = min(f"{end}T23", bounds.last)
    key_range = PartitionKeyRange(start, end)
    try:
        return pipeline.scheme.validate_range(key_range)
    except ValueError as err:
        raise UserError(str(err)) from None


def show_freshness(pipelines: list[dict[str, Any]]) -> None:
    """One row per pipeline: its newest complete partition, its age and limit, and a verdict."""
    table = Table("pipeline", "freshness", "newest complete partition", "age", "limit")
    for item in pipelines:
        verdict = {True: "[bold red]✖ stale[/]", False: "[green]✔ fresh[/]"}.get(
            item["stale"], "[dim]no limit[/]"
        )
        age, limit = item["age_seconds"], item["limit_seconds"]
        table.add_row(
            item["pipeline"],
            verdict,
            item["newest_partition_key"] or "[red]none in the last week[/]",
            format_age(timedelta(seconds=age)) if age is not None else "-",
            format_age(timedelta(seconds=limit)) if limit is not None else "-",
        )
    console.print(table)


def show_grid(grid: dict[str, Any], title: str) -> None:
    table = Table("partition", *grid["jobs"], title=title)
    for row in grid["partitions"]:
        cells = []
        for name in grid["jobs"]:
            state = row["jobs"].get(name)
            cells.append(
                f"{STATUS_STYLE.get(state['status'], state['status'])} #{state['attempt']}"
                if state
                else "[dim]·[/]"
            )
        table.add_row(row["partition_key"], *cells)
    console.print(table)


def show_errors(grid: dict[str, Any], *, full: bool) -> None:
    """One line per failed cell: `partition job #attempt: error` (cut unless `full`), then
    one per waiting cell, naming what it waits for."""
    cut = False
    for states, label, style in (
        (ERROR_STATES, "failed", "bold red"),
        (WAITING_STATES, "waiting", "cyan"),
    ):
        cells = [
            (row["partition_key"], name, state)
            for row in grid["partitions"]
            for name, state in row["jobs"].items()
            if state["status"] in states
        ]
        if cells:
            console.print(plain(f"{len(cells)} {label}:", style))
        for key, name, state in cells:
            error = state.get("error") or "(no error recorded)"
            shown = error if full else shorten(error)
            cut = cut or shown != error
            console.print(plain(f"  {key} {name} #{state['attempt']}: {shown}"), soft_wrap=True)
    if cut:
        console.print(plain("(cut to one line: --errors shows them in full)", "dim"))
