"""`dayflow run P --partition KEY [--job J] [--json]`: one partition's jobs, wave by wave.

Bad input (an unknown pipeline or job, a key that is not one of the pipeline's partitions, such
as an hour skipped by DST) is refused from the spec before the job-runner is called: one line,
exit 2. A job that fails is a failure of the work: its row says so, the error is printed once
(stderr, one line), downstream jobs are not run, and the exit code is 1. A job waiting for
upstream partitions of other pipelines is not a failure: it is shown `waiting`, the line names
the missing partitions, downstream jobs are not run, and the exit code is 3.
"""

from __future__ import annotations

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
from dayflow.cli.output import one_line, print_json
from dayflow.cli.styles import STATUS_STYLE
from dayflow.errors import DayflowError
from dayflow.partition_runs import check_run, run_partition


class UpstreamWaitingExit(DayflowError):
    """`dayflow run` ended with a job waiting for upstream partitions: exit 3, not an error."""

    exit_code = 3
    label = "waiting"


@app.command()
def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name")],
    partition: Annotated[str, typer.Option("--partition", "-p", help="Partition key")],
    job: Annotated[str | None, typer.Option("--job", "-j", help="Run only this job")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON")] = False,
    spec_path: SpecOption = None,
    env: EnvOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    """Run the jobs of one partition in dependency order through the job-runner."""
    check_run(get_spec(spec_path), pipeline, partition, job)
    with get_job_runner(env, impersonate, spec_path) as client:
        outcomes = [_outcome(r) for r in run_partition(client, pipeline, partition, job)]
    failed = [o for o in outcomes if o["status"] == "failed"]
    if as_json:
        print_json({"pipeline": pipeline, "partition_key": partition, "jobs": outcomes})
    else:
        show_outcomes(outcomes)
    waiting = [o for o in outcomes if o["status"] == "waiting"]
    if waiting and not failed:
        # Not a failure: nothing ran that could fail. Exit 3, naming what it waits for.
        raise UpstreamWaitingExit(
            f"{waiting[0]['error']} (not a failure: run it again once they have succeeded)"
        )
    if failed:
        # A failure of the work, not of the input: exit 1, its error once, on one line.
        first = failed[0]
        more = f" (and {len(failed) - 1} more failed job(s))" if len(failed) > 1 else ""
        not_run = sum(o["status"] == "not run" for o in outcomes)
        raise DayflowError(
            f"job {first['job']!r} failed for partition {partition}: {first['error']}{more}"
            + (f" ({not_run} downstream job(s) not run)" if not_run else "")
        )


def _outcome(record: dict[str, Any]) -> dict[str, Any]:
    """A `run_partition` record as the CLI shows it (the same fields for every status)."""
    fields = ("run_id", "rows_written", "duration_seconds", "bigquery_job_id", "error")
    outcome = {"job": record["job"], "status": record["status"]}
    outcome |= {name: record.get(name) for name in fields}
    if outcome["error"] is not None:
        outcome["error"] = one_line(outcome["error"])
    return outcome


def show_outcomes(outcomes: list[dict[str, Any]]) -> None:
    table = Table("job", "status", "rows written", "seconds", "BigQuery job")
    for o in outcomes:
        seconds = o["duration_seconds"]
        table.add_row(
            o["job"],
            STATUS_STYLE.get(o["status"], o["status"]),
            "" if o["rows_written"] is None else str(o["rows_written"]),
            "" if seconds is None else f"{seconds:.2f}",
            o["bigquery_job_id"] or "",
        )
    console.print(table)
