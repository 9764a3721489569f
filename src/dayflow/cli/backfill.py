"""`dayflow backfill` (start, watch, cancel).

A backfill starts through the job-runner's POST /backfills, as it does for HTTP users, and is
followed through GET /backfills/{id} (the run ledger) and its `backfill` execution.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from dayflow.backfill_plan import MAX_CONCURRENCY
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
from dayflow.errors import DayflowError
from dayflow.executions import (
    ExecutionInfo,
    Executions,
    find_backfill,
    get_backfill_id,
    list_chunks,
)
from dayflow.runner_client import JobRunnerClient


class _BackfillGroup(TyperGroup):
    """`dayflow backfill PIPELINE ...` runs `start`; `watch` and `cancel` are subcommands."""

    # Typer's own (vendored) click types: Any keeps them out of this module.
    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["start", *args]
        return super().resolve_command(ctx, args)


backfill_app = typer.Typer(
    cls=_BackfillGroup,
    help="Run a pipeline over many partitions (`dayflow backfill PIPELINE --start --end`), "
    "or watch or cancel a backfill by its id.",
    no_args_is_help=True,
)
app.add_typer(backfill_app, name="backfill")

PollOption = Annotated[float, typer.Option(help="Seconds between progress polls")]


@backfill_app.command("start")
def start(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name")],
    start: Annotated[str, typer.Option(help="First partition key (inclusive)")],
    end: Annotated[str, typer.Option(help="Last partition key (inclusive)")],
    order: Annotated[Literal["asc", "desc"], typer.Option(help="Partition order")] = "asc",
    only: Annotated[
        Literal["all", "failed", "missing"], typer.Option(help="Which partitions to run")
    ] = "all",
    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_CONCURRENCY,
            help="Partitions in flight at once (1-100, over child executions of at most 20)",
        ),
    ] = 4,
    chunk_size: Annotated[
        int | None, typer.Option(min=1, help="Partitions per child execution (default: auto)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show the plan, its cost and wall time")
    ] = False,
    job_seconds: Annotated[
        float, typer.Option(min=0.001, help="With --dry-run: how long one job takes (seconds)")
    ] = 60.0,
    include_upstream: Annotated[
        bool,
        typer.Option(
            "--include-upstream",
            help="First backfill the upstream pipelines over the partitions this range needs",
        ),
    ] = False,
    poll: PollOption = 1.0,
    spec_path: SpecOption = None,
    env: EnvOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    """Start a backfill through the job-runner (POST /backfills) and follow it to its end."""
    runner = get_job_runner(env, impersonate, spec_path)
    body: dict[str, Any] = {
        "pipeline": pipeline,
        "start": start,
        "end": end,
        "order": order,
        "only": only,
        "concurrency": concurrency,
    }
    if chunk_size is not None:
        body["chunk_size"] = chunk_size
    if include_upstream:
        body["include_upstream"] = True
    if dry_run:
        with runner:
            estimate = runner.create_backfill({**body, "dry_run": True, "job_seconds": job_seconds})
        show_estimate(estimate)
        return
    started = runner.create_backfill(body)
    if started["backfill_id"] is None:
        console.print(
            f"nothing to do: no partitions of {pipeline} in {start}..{end} match only={only}"
        )
        return
    backfill_id = started["backfill_id"]
    console.print(f"backfill [bold]{backfill_id}[/]: execution {started['execution']}")
    executions = get_executions(get_spec(spec_path), env, impersonate)
    execution = executions.get(started["execution"])
    follow(runner, executions, execution, started["num_partitions"], poll)


@backfill_app.command("watch")
def watch(
    backfill_id: Annotated[str, typer.Argument(help="The id `dayflow backfill` printed")],
    poll: PollOption = 1.0,
    spec_path: SpecOption = None,
    env: EnvOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    """Follow a backfill started anywhere (CLI, HTTP, catch-up) until it ends."""
    runner = get_job_runner(env, impersonate, spec_path)
    executions = get_executions(get_spec(spec_path), env, impersonate)
    execution = find_backfill(executions, backfill_id)
    console.print(f"backfill [bold]{backfill_id}[/]: execution {execution.name}")
    follow(runner, executions, execution, get_total(runner, execution), poll)


@backfill_app.command("cancel")
def cancel(
    backfill_id: Annotated[str, typer.Argument(help="The id `dayflow backfill` printed")],
    spec_path: SpecOption = None,
    env: EnvOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    """Cancel a backfill: its `backfill` execution, then every chunk execution it started."""
    executions = get_executions(get_spec(spec_path), env, impersonate)
    parent = cancel_backfill(executions, backfill_id)
    console.print(
        f"backfill [bold]{backfill_id}[/]: execution {parent.execution_id} {parent.state}"
    )


def cancel_backfill(executions: Executions, backfill_id: str) -> ExecutionInfo:
    """Cancel the parent first, so that it starts no more chunks, then each active chunk.

    In GCP a child execution outlives a cancelled parent, so the chunks are cancelled one by
    one; a chunk the parent was starting as it was cancelled shows up in a later listing, so
    the listing repeats until the parent has ended and no chunk is active."""
    parent = find_backfill(executions, backfill_id)
    if not parent.is_done:
        parent = executions.cancel(parent.name)
    cancelled = 0
    while True:
        active = [c for c in list_chunks(executions, backfill_id) if not c.is_done]
        for chunk in active:
            executions.cancel(chunk.name)
            cancelled += 1
        parent = executions.get(parent.name)
        if not active and parent.is_done:
            break
        time.sleep(0.5)
    if cancelled:
        console.print(f"cancelled {cancelled} chunk execution(s) of {backfill_id}")
    return parent


def get_total(runner: JobRunnerClient, execution: ExecutionInfo) -> int | None:
    """The partitions a backfill runs, from its argument's plan (known for only=all; with
    only=failed|missing the ledger has moved on since it started)."""
    argument = execution.argument
    if argument.get("only", "all") != "all":
        return None
    keys = ("pipeline", "start", "end", "partition_keys", "order", "chunk_size")
    body = {k: argument[k] for k in keys if k in argument}
    try:
        return int(runner.create_backfill({**body, "dry_run": True})["num_partitions"])
    except DayflowError:
        return None


def follow(
    runner: JobRunnerClient,
    executions: Executions,
    execution: ExecutionInfo,
    total: int | None,
    poll: float,
) -> None:
    """Show a backfill's progress (the ledger's counts) until its execution ends; then its
    summary. A job-runner that does not answer (restarting) is waited for, not fatal."""
    backfill_id = get_backfill_id(execution)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "[red]{task.fields[failed]} failed[/]  [yellow]{task.fields[running]} in flight[/]"
            "  {task.fields[note]}"
        ),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(backfill_id, total=total, failed=0, running=0, note="")
        while True:
            try:
                ledger = runner.get_backfill(backfill_id) or {}
                note = ""
            except DayflowError as err:
                ledger, note = {}, f"[dim]({err.__class__.__name__}: job-runner not answering)[/]"
            if ledger:
                progress.update(
                    task,
                    completed=ledger["succeeded"] + ledger["failed"],
                    failed=ledger["failed"],
                    running=ledger["running"],
                )
            progress.update(task, note=note)
            if execution.is_done:
                break
            time.sleep(poll)
            execution = executions.get(execution.name)
    if execution.state != "SUCCEEDED":
        raise DayflowError(f"backfill {backfill_id} {execution.state}: {execution.error}")
    summary: dict[str, Any] = execution.result or {}
    show_summary(summary)
    if summary.get("failed"):
        raise DayflowError(
            f"{summary['failed']} partition(s) failed: {', '.join(summary.get('failed_keys', []))} "
            "(fix the cause, then run the same backfill with --only failed)"
        )


def show_estimate(estimate: dict[str, Any]) -> None:
    table = Table(
        "partitions",
        "partition-jobs",
        "chunks",
        "side by side",
        "Workflows steps",
        "Workflows cost",
        "BigQuery bytes",
        "wall time",
        title="dry run",
    )
    bytes_processed = estimate["estimated_bytes_processed"]
    table.add_row(
        str(estimate["num_partitions"]),
        str(estimate["num_partition_jobs"]),
        str(estimate["num_chunks"]),
        str(estimate["num_lanes"]),
        str(estimate["estimated_workflow_steps"]),
        f"${estimate['estimated_workflow_cost_usd']:.4f}",
        "unknown" if bytes_processed is None else f"{bytes_processed:,}",
        format_seconds(estimate["expected_seconds"]),
    )
    console.print(table)
    for plan in estimate["partitions"][:10]:
        console.print(
            f"  {plan['partition_key']}: " + " -> ".join("+".join(w) for w in plan["waves"])
        )
    if estimate["num_partitions"] > 10:
        console.print(f"  ... and {estimate['num_partitions'] - 10} more")
    show_upstream(estimate)
    if estimate["skipped"]:
        console.print(f"  {estimate['skipped']} partition(s) skipped: nothing to redo")


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return (
        f"{hours}h {rest // 60:02d}m {rest % 60:02d}s"
        if hours
        else f"{rest // 60}m {rest % 60:02d}s"
    )


def show_summary(summary: dict[str, Any]) -> None:
    table = Table("partitions", "succeeded", "failed", "skipped", title="backfill summary")
    table.add_row(
        str(summary.get("partitions", "?")),
        f"[green]{summary.get('succeeded', '?')}[/]",
        f"[red]{summary.get('failed', '?')}[/]",
        str(summary.get("skipped", "?")),
    )
    console.print(table)


def show_upstream(estimate: dict[str, Any]) -> None:
    """The jobs' dependencies on other pipelines, and the upstream backfills run first."""
    for edge in estimate.get("edges") or []:
        window = f" {edge['window']}" if edge.get("window") else ""
        console.print(
            f"  {edge['job']} <- {edge['upstream_pipeline']}.{edge['upstream_job']} "
            f"({edge['mapping']}{window})"
        )
    for number, stage in enumerate(estimate.get("upstream") or [], 1):
        console.print(
            f"  first, upstream {number}: {stage['pipeline']} {stage['start']}..{stage['end']}"
        )
