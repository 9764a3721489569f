"""`dayflow status P --start A --end B [--errors] [--json]`: the ledger's grid of partitions x
jobs, and below it the error of every failed cell (cut to one line; whole with `--errors`).

For an hourly pipeline, a bound may be a local day: `--start 2024-03-10 --end 2024-03-11` covers
every hour of both days (23 and 24 of them across the DST change), cut to the hours the pipeline
has (from its `start` to the partition containing now).
"""

from __future__ import annotations

import re
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
from dayflow.partition_bounds import get_partition_bounds
from dayflow.partitions import PartitionKeyRange
from dayflow.spec import Pipeline

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@app.command()
def status(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name")],
    start: Annotated[
        str, typer.Option(help="First partition key, inclusive (hourly pipelines: or a day)")
    ],
    end: Annotated[
        str, typer.Option(help="Last partition key, inclusive (hourly pipelines: or a day)")
    ],
    errors: Annotated[
        bool, typer.Option("--errors", help="Show each failed cell's error in full")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the grid as JSON")] = False,
    spec_path: SpecOption = None,
    env: EnvOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    """A grid of partitions x jobs, coloured by the run ledger's newest status."""
    spec_pipeline = get_spec(spec_path).get_pipeline(pipeline)
    key_range = get_status_range(pipeline, spec_pipeline, start, end)
    with get_job_runner(env, impersonate, spec_path) as client:
        grid = client.get_status(pipeline, key_range.start, key_range.end)
    if as_json:
        print_json({**grid, "start": key_range.start, "end": key_range.end})
        return
    show_grid(grid, f"{pipeline}: {key_range.start} .. {key_range.end}")
    show_errors(grid, full=errors)


def get_status_range(
    pipeline_name: str, pipeline: Pipeline, start: str, end: str
) -> PartitionKeyRange:
    """The key range to show. For an hourly pipeline a day bound means its first (start) or last
    (end) hour, cut to the pipeline's partitions; a key is taken as it is."""
    if pipeline.granularity == "hour":
        bounds = get_partition_bounds(pipeline_name, pipeline)
        if _DAY.match(start):
            start = max(f"{start}T00", bounds.first)
        if _DAY.match(end):
            end = min(f"{end}T23", bounds.last)
    key_range = PartitionKeyRange(start, end)
    try:
        return pipeline.scheme.validate_range(key_range)
    except ValueError as err:
        raise UserError(str(err)) from None


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
