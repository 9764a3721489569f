"""`dayflow validate`, `run`, `status` and `checksum`."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
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
from dayflow.errors import DayflowError

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
    client = get_job_runner(env, impersonate)
    if job is not None:
        waves = [[job]]
    else:
        plan = client.get_plan(pipeline, partition, partition)
        waves = plan["partitions"][0]["waves"]
    table = Table("job", "status", "rows written", "seconds", "BigQuery job")
    failed: str | None = None
    with ThreadPoolExecutor(max_workers=8) as pool:
        for wave in waves:
            futures = {name: pool.submit(client.run, pipeline, name, partition) for name in wave}
            for name, future in futures.items():
                try:
                    outcome: dict[str, Any] = future.result()
                except DayflowError as err:
                    table.add_row(name, STATUS_STYLE["failed"], "", "", str(err))
                    failed = failed or f"job {name!r} failed for partition {partition}: {err}"
                    continue
                table.add_row(
                    name,
                    STATUS_STYLE["succeeded"],
                    str(outcome["rows_written"]),
                    f"{outcome['duration_seconds']:.2f}",
                    outcome["bigquery_job_id"] or "",
                )
            if failed:
                break
    console.print(table)
    if failed:
        raise DayflowError(f"{failed} (downstream jobs were not run)")


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
