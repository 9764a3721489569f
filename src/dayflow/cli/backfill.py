"""`dayflow backfill`: start and watch a backfill Workflows execution."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dayflow.cli.app import app
from dayflow.cli.context import (
    EnvOption,
    ImpersonateOption,
    SpecOption,
    console,
    get_executions,
    get_job_runner,
    get_spec,
)
from dayflow.errors import DayflowError, UserError
from dayflow.executions import BACKFILL_WORKFLOW, new_backfill_id
from dayflow.partitions import PartitionKeyRange


@app.command()
def backfill(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name")],
    start: Annotated[str, typer.Option(help="First partition key (inclusive)")],
    end: Annotated[str, typer.Option(help="Last partition key (inclusive)")],
    order: Annotated[Literal["asc", "desc"], typer.Option(help="Partition order")] = "asc",
    only: Annotated[
        Literal["all", "failed", "missing"], typer.Option(help="Which partitions to run")
    ] = "all",
    concurrency: Annotated[
        int, typer.Option(min=1, max=20, help="Partitions in flight at once (1-20)")
    ] = 4,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the plan and cost")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between progress polls")] = 1.0,
    spec_path: SpecOption = None,
    env: EnvOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    """Run a pipeline over a range of partitions as a `backfill` Workflows execution."""
    spec = get_spec(spec_path)
    scheme = spec.get_pipeline(pipeline).scheme
    try:
        scheme.validate_range(PartitionKeyRange(start, end))
    except ValueError as err:
        raise UserError(str(err)) from None
    runner = get_job_runner(env, impersonate, spec_path)
    body = {"pipeline": pipeline, "start": start, "end": end, "order": order, "only": only}
    if dry_run:
        show_estimate(runner.create_backfill({**body, "concurrency": concurrency, "dry_run": True}))
        return
    plan = runner.get_plan(pipeline, start, end, order, only)
    if not plan["num_partitions"]:
        console.print(
            f"nothing to do: no partitions of {pipeline} in {start}..{end} match only={only}"
        )
        return
    backfill_id = new_backfill_id(pipeline)
    executions = get_executions(spec, env, impersonate)
    execution = executions.start(
        BACKFILL_WORKFLOW,
        {**body, "concurrency": concurrency, "dry_run": False, "backfill_id": backfill_id},
    )
    console.print(f"backfill [bold]{backfill_id}[/]: execution {execution.name}")
    total = plan["num_partitions"]
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "[red]{task.fields[failed]} failed[/]  [yellow]{task.fields[running]} in flight[/]"
        ),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(pipeline, total=total, failed=0, running=0)
        while not execution.is_done:
            time.sleep(poll)
            execution = executions.get(execution.name)
            ledger = runner.get_backfill(backfill_id) or {}
            done = ledger.get("succeeded", 0) + ledger.get("failed", 0)
            progress.update(
                task,
                completed=min(done, total),
                failed=ledger.get("failed", 0),
                running=ledger.get("running", 0),
            )
    if execution.state != "SUCCEEDED":
        raise DayflowError(f"backfill execution {execution.state}: {execution.error}")
    summary: dict[str, Any] = execution.result or {}
    show_summary(summary)
    if summary.get("failed"):
        raise DayflowError(
            f"{summary['failed']} partition(s) failed: {', '.join(summary.get('failed_keys', []))} "
            f"(fix the cause, then: dayflow backfill {pipeline} --start {start} --end {end} "
            "--only failed)"
        )


def show_estimate(estimate: dict[str, Any]) -> None:
    table = Table(
        "partitions",
        "partition-jobs",
        "Workflows steps",
        "Workflows cost",
        "BigQuery bytes",
        title="dry run",
    )
    bytes_processed = estimate["estimated_bytes_processed"]
    table.add_row(
        str(estimate["num_partitions"]),
        str(estimate["num_partition_jobs"]),
        str(estimate["estimated_workflow_steps"]),
        f"${estimate['estimated_workflow_cost_usd']:.4f}",
        "unknown" if bytes_processed is None else f"{bytes_processed:,}",
    )
    console.print(table)
    for plan in estimate["partitions"][:10]:
        console.print(
            f"  {plan['partition_key']}: " + " -> ".join("+".join(w) for w in plan["waves"])
        )
    if estimate["num_partitions"] > 10:
        console.print(f"  ... and {estimate['num_partitions'] - 10} more")


def show_summary(summary: dict[str, Any]) -> None:
    table = Table("partitions", "succeeded", "failed", "skipped", title="backfill summary")
    table.add_row(
        str(summary.get("partitions", "?")),
        f"[green]{summary.get('succeeded', '?')}[/]",
        f"[red]{summary.get('failed', '?')}[/]",
        str(summary.get("skipped", "?")),
    )
    console.print(table)
