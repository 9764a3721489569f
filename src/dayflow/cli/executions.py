"""`dayflow executions P [--limit N] [--json]`: recent run_partition and backfill executions.

A backfill execution SUCCEEDS when it ran every partition, even if some partitions failed: its
row shows the summary counts from its result, and its state reads `SUCCEEDED, 2 failed` in red
when any partition failed. Execution ids are cut to 8 characters on a terminal only; piped or
as JSON they are whole.
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
    get_executions,
    get_spec,
)
from dayflow.cli.output import plain, print_json, shorten
from dayflow.executions import BACKFILL_WORKFLOW, RUN_PARTITION_WORKFLOW, ExecutionInfo

# Characters of an execution id shown on a terminal.
SHORT_ID = 8
_STATE_STYLE = {"SUCCEEDED": "green", "FAILED": "bold red", "CANCELLED": "magenta"}


@app.command()
def executions(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name")],
    limit: Annotated[int, typer.Option(min=1, max=200, help="Executions per workflow")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the executions as JSON")] = False,
    spec_path: SpecOption = None,
    env: EnvOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    """Recent run_partition and backfill executions of a pipeline."""
    spec = get_spec(spec_path)
    spec.get_pipeline(pipeline)
    client = get_executions(spec, env, impersonate)
    rows = [
        (workflow, info)
        for workflow in (BACKFILL_WORKFLOW, RUN_PARTITION_WORKFLOW)
        for info in client.list(workflow, limit)
        if info.argument.get("pipeline") == pipeline
    ]
    rows.sort(key=lambda row: row[1].start_time or 0, reverse=True)
    if as_json:
        print_json([to_json(workflow, info) for workflow, info in rows])
        return
    table = Table(
        "started",
        "workflow",
        "execution",
        "state",
        "partitions",
        "argument",
        title=f"executions of {pipeline}",
    )
    whole_ids = not console.is_terminal
    for workflow, info in rows:
        argument = " ".join(
            f"{k}={v}" for k, v in info.argument.items() if k not in ("pipeline", "backfill_id")
        )
        started = info.start_time.strftime("%Y-%m-%d %H:%M:%S") if info.start_time else ""
        execution_id = info.execution_id if whole_ids else info.execution_id[:SHORT_ID]
        counts = get_summary(info)
        table.add_row(
            started,
            workflow,
            execution_id,
            plain(*_state(info, counts)),
            _show_counts(counts),
            plain(argument),
        )
    console.print(table)
    for _, info in rows:
        if info.error:
            console.print(plain(f"{info.execution_id}: {shorten(info.error)}", "red"))


def get_summary(info: ExecutionInfo) -> dict[str, int] | None:
    """The partition counts of a finished backfill's result, or None (not a backfill, or no
    result: still running, failed or a dry run)."""
    result = info.result
    if not isinstance(result, dict) or result.get("dry_run") or "partitions" not in result:
        return None
    return {
        key: int(result.get(key) or 0) for key in ("partitions", "succeeded", "failed", "skipped")
    }


def to_json(workflow: str, info: ExecutionInfo) -> dict[str, Any]:
    return {
        "workflow": workflow,
        "name": info.name,
        "execution_id": info.execution_id,
        "state": info.state,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "argument": info.argument,
        "summary": get_summary(info),
        "result": info.result,
        "error": info.error,
    }


def _state(info: ExecutionInfo, counts: dict[str, int] | None) -> tuple[str, str]:
    if info.state == "SUCCEEDED" and counts and counts["failed"]:
        return f"SUCCEEDED, {counts['failed']} failed", "bold red"
    return info.state, _STATE_STYLE.get(info.state, "yellow")


def _show_counts(counts: dict[str, int] | None) -> str:
    if counts is None:
        return ""
    return (
        f"{counts['partitions']}: [green]{counts['succeeded']} ok[/] "
        f"[red]{counts['failed']} failed[/] {counts['skipped']} skipped"
    )
