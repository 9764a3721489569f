"""Is the local stack that `stack.json` records still answering? Checked before a command uses
it, so a dead emulator fails the command at once, naming it, instead of leaving the job-runner's
BigQuery client retrying for many minutes.

Every service listens on 127.0.0.1: a dead one refuses the connection immediately, so the check
costs a few local TCP connects.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from dayflow.errors import UnavailableError
from dayflow.local.process import is_port_open

# The services a command may need, by their key in stack.json, with the name a person knows.
SERVICES = {
    "bigquery_endpoint": "the BigQuery emulator",
    "job_runner_url": "the job-runner",
    "workflows_grpc": "the Workflows engine",
    "scheduler_url": "the local scheduler",
}


def get_dead_services(stack: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, address) of each recorded service that does not accept a connection."""
    dead = []
    recorded = [(name, stack.get(key)) for key, name in SERVICES.items()]
    # The domain's own services that http jobs call (dayflow.local.services).
    recorded += [(f"service {n!r}", url) for n, url in (stack.get("services") or {}).items()]
    for name, address in recorded:
        if not address:
            continue
        parts = urlsplit(address if "//" in address else f"//{address}")
        if parts.port is None or not is_port_open(parts.port, parts.hostname or "127.0.0.1"):
            dead.append((name, address))
    return dead


def check_stack(stack: dict[str, Any]) -> None:
    """Raise UnavailableError naming each dead service and what to run."""
    dead = get_dead_services(stack)
    if dead:
        names = ", ".join(f"{name} at {address}" for name, address in dead)
        raise UnavailableError(
            f"the local stack is not answering: {names} refused the connection "
            "(restart it: dayflow local up)"
        )
