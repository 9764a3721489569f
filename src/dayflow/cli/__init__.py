"""The `dayflow` command. Bad input (usage, values, the spec) prints one line per problem on
stderr and exits 2; a failure of the work (a job, a service) prints its error once and exits 1.
Never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dayflow.errors import DayflowError, UserError


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI on `argv` (default: the process's arguments); exit with its code."""
    import typer
    from typer.exceptions import TyperException
    from typer.main import get_command

    from dayflow.cli.app import app
    from dayflow.cli.commands import register_all

    register_all()
    args = list(sys.argv[1:] if argv is None else argv)
    command = get_command(app)
    try:
        # Not standalone: usage errors come back here, to be printed as one line.
        code = command.main(args=args, prog_name="dayflow", standalone_mode=not args)
    except TyperException as err:  # a usage error (typer's click): a missing or bad option
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        ctx = getattr(err, "ctx", None)
        where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        print(f"error: {one_line(message)}{where}", file=sys.stderr)
        raise SystemExit(getattr(err, "exit_code", 2)) from None
    except typer.Abort:  # Ctrl-C
        print("error: aborted", file=sys.stderr)
        raise SystemExit(130) from None
    except UserError as err:
        for line in str(err).splitlines():
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(2) from None
    except DayflowError as err:
        # An outcome that is not a failure (run: a job waiting) has its own label and code.
        print(f"{getattr(err, 'label', 'error')}: {one_line(str(err))}", file=sys.stderr)
        raise SystemExit(getattr(err, "exit_code", 1)) from None
    raise SystemExit(code if isinstance(code, int) else 0)


def one_line(text: str) -> str:
    return " ".join(text.split())
