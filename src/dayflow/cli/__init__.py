"""The `dayflow` command. User errors print one line per problem on stderr and exit 2; a failure
of the work (a job, a service) prints its error once and exits 1. Never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dayflow.errors import DayflowError, UserError


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI on `argv` (default: the process's arguments); exit with its code."""
    from dayflow.cli.app import app
    from dayflow.cli.commands import register_all

    register_all()
    try:
        app(args=None if argv is None else list(argv), prog_name="dayflow")
    except UserError as err:
        for line in str(err).splitlines():
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(2) from None
    except DayflowError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
