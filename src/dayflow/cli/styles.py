"""How run states look in the CLI's tables."""

from __future__ import annotations

STATUS_STYLE = {
    "succeeded": "[green]✔ succeeded[/]",
    "failed": "[bold red]✖ failed[/]",
    "running": "[yellow]… running[/]",
    "queued": "[blue]◌ queued[/]",
    # Running past its lease: the job-runner running it died. Rerun with only=failed.
    "stale": "[bold magenta]✖ stale[/]",
    # Not started: upstream partitions of other pipelines have not all succeeded. Not a failure.
    "waiting": "[cyan]⧗ waiting[/]",
    # Downstream of a failed job in the same `dayflow run`: never started.
    "not run": "[dim]· not run[/]",
}
# States whose cell carries an error worth showing.
ERROR_STATES = ("failed", "stale")
# States whose cell names what it waits for: shown beside errors, never counted as failed.
WAITING_STATES = ("waiting",)
