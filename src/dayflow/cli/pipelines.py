"""`dayflow validate` and `checksum` (`run` and `status` have modules of their own)."""

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
