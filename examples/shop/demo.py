"""`make demo`: the example shop on the local stack, proving reruns change nothing.

It drives the real `dayflow` CLI, printing each command as it runs it: start the stack, load
the example data, publish the orders events, backfill 7 daily partitions of both pipelines
through the Workflows engine, take checksums, rerun two partitions sequentially and then
concurrently, compare checksums, show the status grid and the executions, stop.

shop_daily's `extract_fx_rates` is an http job: it calls the shop's own FX extractor
(services/fx_extractor, served by `dayflow local up`), whose table the checksums cover too.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console()
ROOT = Path(__file__).resolve().parent  # this project: dayflow.yaml, transform/
PIPELINE = "shop_daily"
PIPELINES = ("shop_daily", "shop_events")
WEEK = [f"2024-01-{day:02d}" for day in range(1, 8)]
RERUN = ["2024-01-03", "2024-01-05"]
FX_TABLE = "staging.fx_rates"  # written by the fx_extractor service for the http job


def dayflow(*args: str, capture: bool = False) -> str:
    console.print(f"[bold cyan]$ dayflow {shlex.join(args)}[/]")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dayflow"), *args],
        check=False,
        text=True,
        capture_output=capture,
        cwd=ROOT,
    )
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stderr)
        raise SystemExit(f"demo failed: `dayflow {shlex.join(args)}` exited {result.returncode}")
    return result.stdout if capture else ""


def dayflow_concurrently(*commands: list[str]) -> None:
    for args in commands:
        console.print(f"[bold cyan]$ dayflow {shlex.join(args)} &[/]")
    procs = [
        subprocess.Popen(
            [str(Path(sys.executable).parent / "dayflow"), *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for args in commands
    ]
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"demo failed: concurrent runs exited {codes}")
    console.print(f"[bold cyan]$ wait[/]  ({len(procs)} concurrent runs succeeded)")


def checksums() -> dict[str, Any]:
    found: dict[str, dict[str, tuple[int, str]]] = {}
    for pipeline in PIPELINES:
        out = dayflow(
            "checksum", pipeline, "--start", WEEK[0], "--end", WEEK[-1], "--json", capture=True
        )
        for p in json.loads(out)["partitions"]:
            for t in p["tables"]:
                found.setdefault(p["partition_key"], {})[t["table"]] = (t["rows"], t["fingerprint"])
    return found


def main() -> None:
    os.chdir(ROOT)
    dayflow("validate")
    dayflow("local", "up", "--fresh")
    try:
        dayflow("seed")
        for topic in ("customers", "orders"):
            dayflow("publish", topic, "--file", f"transform/events/{topic}.jsonl", "--wait")
        for pipeline in PIPELINES:
            dayflow(
                "backfill", pipeline, "--start", WEEK[0], "--end", WEEK[-1], "--concurrency", "4"
            )
        before = checksums()
        # The http job ran in every partition: its service wrote each day's rates.
        if not all(tables.get(FX_TABLE, (0, ""))[0] > 0 for tables in before.values()):
            raise SystemExit(f"demo failed: {FX_TABLE} is missing partitions: {before}")
        console.rule("rerun two partitions, one after the other")
        for key in RERUN:
            dayflow("run", PIPELINE, "--partition", key)
        console.rule("rerun the same two partitions, three times each, all at once")
        dayflow_concurrently(
            *[["run", PIPELINE, "--partition", k] for k in RERUN for _ in range(3)]
        )
        after = checksums()
        show_checksums(before, after)
        dayflow("status", PIPELINE, "--start", WEEK[0], "--end", WEEK[-1])
        dayflow("executions", PIPELINE, "--limit", "5")
        if before != after:
            raise SystemExit("demo failed: checksums changed after reruns")
        console.print("[bold green]reruns left every partition exactly as it was[/]")
    finally:
        dayflow("local", "down")


def show_checksums(before: dict[str, Any], after: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table("partition", "table", "rows", "before", "after", "same", title="checksums")
    for key, tables in before.items():
        for name, (rows, fingerprint) in tables.items():
            now = after.get(key, {}).get(name, (None, None))
            same = "[green]✔[/]" if now == (rows, fingerprint) else "[red]✖[/]"
            table.add_row(key, name, str(rows), fingerprint, str(now[1]), same)
    console.print(table)


if __name__ == "__main__":
    main()
