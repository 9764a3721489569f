"""The `dayflow` command. User errors print one line per problem on stderr and exit 2."""

from __future__ import annotations

import sys

from dayflow.errors import DayflowError, UserError


def main() -> None:
    from dayflow.cli.app import app
    from dayflow.cli.commands import register_all

    register_all()
    try:
        app()
    except UserError as err:
        for line in str(err).splitlines():
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(2) from None
    except DayflowError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
