"""`dayflow validate`, `run`, `status` and `checksum`."""

from __future__ import annotations

import json
from typing import Annotated

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
from dayflow.errors import DayflowError
from dayflow.partition_runs import get_first_failure, run_partition

STATUS_STYLE = {
    "succeeded": "[green]✔ succeeded[/]",
    "failed": "[bold red]✖ failed[/]",
    "running": "[yellow]… running[/]",
    "queued": "[blue]◌ queued[/]",
    # Running past its lease: the job-runner running it died. Rerun with only=failed.
    "stale": "[bold magenta]✖ stale[/]",
}


@app.command()
def validate(spec: SpecOption = None) -> None:
    """Check a spec file; print one line per problem (exit 2) or a summary."""
    loaded = get_spec(spec)
    jobs = sum(len(p.jobs) for p in loaded.pipelines.values())
    console.print(
        f"[green]ok[/]: {len(loaded.pipelines)} pipeline(s), {jobs} job(s), "
        f"{len(loaded.topics)} topic(s)"
    )


@app.command()
def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name")],
    partition: Annotated[str, typer.Option("--partition", "-p", help="Partition key")],
    job: Annotated[str | None, typer.Option("--job", "-j", help="Run only this job")] = None,
    env: EnvOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    """Run the jobs of one partition in dependency order through the job-runner."""
    records = run_partition(get_job_runner(env, impersonate), pipeline, partition, job)
    table = Table("job", "status", "rows written", "seconds", "BigQuery job")
    for record in records:
        if record["status"] == "failed":
            table.add_row(record["job"], STATUS_STYLE["failed"], "", "", record["error"])
            continue
        table.add_row(
            record["job"],
            STATUS_STYLE["succeeded"],
            str(record["rows_written"]),
            f"{record['duration_seconds']:.2f}",
            record["bigquery_job_id"] or "",
        )
    console.print(table)
    failed = get_first_failure(records)
    if failed:
        raise DayflowError(
            f"job {failed['job']!r} failed for partition {partition}: {failed['error']} "
            "(downstream jobs were not run)"
        )


@app.command()
def status(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name")],
    start: Annotated[str, typer.Option(help="First partition key (inclusive)")],
    end: Annotated[str, typer.Option(help="Last partition key (inclusive)")],
    env: EnvOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    """A grid of partitions x jobs, coloured by the run ledger's newest status."""
    grid = get_job_runner(env, impersonate).get_status(pipeline, start, end)
    table = Table("partition", *grid["jobs"], title=f"{pipeline}: {start} .. {end}")
    for row in grid["partitions"]:
        cells = []
        for name in grid["jobs"]:
            state = row["jobs"].get(name)
            cells.append(
                f"{STATUS_STYLE[state['status']]} #{state['attempt']}" if state else "[dim]·[/]"
            )
        table.add_row(row["partition_key"], *cells)
    console.print(table)


@app.command()
def checksum(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name")],
    start: Annotated[str, typer.Option(help="First partition key (inclusive)")],
    end: Annotated[str, typer.Option(help="Last partition key (inclusive)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    env: EnvOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    """Row count and fingerprint of every partition of every table the pipeline replaces."""
    result = get_job_runner(env, impersonate).get_checksums(pipeline, start, end)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table("partition", "table", "rows", "fingerprint", title=f"checksums of {pipeline}")
    for row in result["partitions"]:
        for t in row["tables"]:
            table.add_row(row["partition_key"], t["table"], str(t["rows"]), t["fingerprint"])
    console.print(table)
