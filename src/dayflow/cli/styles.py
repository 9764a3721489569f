"""How run states look in the CLI's tables."""

from __future__ import annotations

STATUS_STYLE = {
    "succeeded": "[green]✔ succeeded[/]",
    "failed": "[bold red]✖ failed[/]",
    "running": "[yellow]… running[/]",
    "queued": "[blue]◌ queued[/]",
    # Running past its lease: the job-runner running it died. Rerun with only=failed.
    "stale": "[bold magenta]✖ stale[/]",
    # Downstream of a failed job in the same `dayflow run`: never started.
    "not run": "[dim]· not run[/]",
}
# States whose cell carries an error worth showing.
ERROR_STATES = ("failed", "stale")
